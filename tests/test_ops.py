"""/healthz, /readyz (each failing check named in a 503) and /metrics (Prometheus text, for the
holder of the metrics token only)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from registry.db.base import make_engine
from registry.db.migrate import upgrade
from tests.factories import child_hand

TOKEN = "m" * 40


def _app(settings, clock, engine, sessions=None, **changes):  # noqa: ANN001, ANN202
    from registry.app import create_app

    app = create_app(settings.model_copy(update=changes), clock=clock, engine=engine, sessions=sessions)
    app.config.update(TESTING=True)
    return app.test_client()


def test_healthz_and_readyz_when_all_is_well(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checks"] == {"database": "ok", "migrations": "ok", "policies": "ok",
                                           "signing_key": "ok"}


def test_readyz_names_an_unreachable_database(settings, clock, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'registry.db'}")
    answer = _app(settings, clock, engine).get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["failing"] == ["database", "migrations"]
    assert answer.get_json()["checks"]["database"].startswith("unreachable")
    engine.dispose()


def test_readyz_names_a_schema_not_at_the_head(settings, clock, fresh_engine):
    upgrade(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    answer = _app(settings, clock, fresh_engine).get("/readyz")
    assert (answer.status_code, answer.get_json()["failing"]) == (503, ["migrations"])


def test_readyz_names_a_missing_signing_key(settings, clock, engine, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    answer = _app(settings, clock, engine, signing_key_dir=blocked / "keys").get("/readyz")
    assert (answer.status_code, answer.get_json()["failing"]) == (503, ["signing_key"])


def test_metrics_are_refused_without_a_configured_token(client):
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
def test_metrics_need_the_token(settings, clock, engine, sessions, header):
    client = _app(settings, clock, engine, sessions, metrics_token=TOKEN)
    answer = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and b"registry_" not in answer.data


def _sample(body: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in body.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_metrics_count_decisions_latency_and_the_unsealed_audit_entries(
        settings, clock, engine, sessions, session, world, headers):
    client = _app(settings, clock, engine, sessions, metrics_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = client.get("/metrics", headers=auth).get_data(as_text=True)
    body = child_hand(world.tool.slug, "m-1").model_dump(mode="json", exclude_none=True)
    assert client.post("/api/v1/decisions", json=body, headers=headers).get_json()["decision"] == "permit"
    denied = dict(body, purpose="research", study=dict(body["study"], study_key="m-2"))
    assert client.post("/api/v1/decisions", json=denied, headers=headers).get_json()["decision"] == "deny"
    after = client.get("/metrics", headers=auth).get_data(as_text=True)
    delta = lambda name, **kw: _sample(after, name, **kw) - _sample(before, name, **kw)  # noqa: E731
    assert delta("registry_decisions_total", outcome="permit") == 1
    assert delta("registry_decisions_total", outcome="deny") == 1
    assert delta("registry_decision_seconds_count") == 2
    assert _sample(after, "registry_audit_entries_unsealed") >= 2
