"""/metrics under `registry serve` adds up the samples of every gunicorn worker (prometheus-client's
multiprocess mode): decisions answered by either worker are all counted in one scrape."""

from __future__ import annotations

import requests

from tests.conftest import new_database
from tests.reliability.served import current_world, decide, migrated, serve
from tests.test_ops import TOKEN, _sample

DECISIONS = 12


def test_metrics_aggregate_all_workers(tmp_path):
    url, drop = new_database(tmp_path)
    engine, sessions = migrated(url)
    world, headers = current_world(sessions)
    server = serve(url, tmp_path / "keys", workers=2, threads=1, env={"REGISTRY_METRICS_TOKEN": TOKEN})
    try:
        # A new connection per decision, so that both workers answer some.
        for n in range(DECISIONS):
            assert decide(server.url, dict(headers, Connection="close"), world.tool.slug, f"m{n}")["decision"] == "permit"
        counts, scraped = set(), None
        for _ in range(6):
            response = requests.get(server.url + "/metrics", timeout=5,
                                    headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"})
            assert response.status_code == 200
            scraped = response.text
            counts.add(_sample(scraped, "registry_decisions_total", outcome="permit"))
        # Whichever worker answered the scrape, it reported the decisions of both.
        assert counts == {DECISIONS}
        assert "registry_decision_seconds_bucket" in scraped
    finally:
        server.stop()
        engine.dispose()
        drop()
