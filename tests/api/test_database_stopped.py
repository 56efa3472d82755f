"""Stop the database under a running registry: the next decision is a 503, never a permit, and
the registry answers again once the database is back. Uses a throwaway cluster of its own."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from registry.db.base import make_engine
from registry.db.migrate import upgrade
from tests.factories import bearer, make_world
from tests.pgcluster import ThrowawayCluster


@pytest.fixture
def cluster():
    c = ThrowawayCluster().init()
    c.start()
    yield c
    c.remove()


def test_stopped_database_gives_503_then_recovers(cluster, settings, clock):
    from registry.app import create_app

    engine = make_engine(cluster.url, connect_args={"connect_timeout": 2})
    upgrade(engine)
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    world = make_world(session, clock)
    headers = bearer(session, clock, world.gateway)
    session.close()
    app = create_app(settings, clock=clock, engine=engine)
    client = app.test_client()
    body = {"tool": world.tool.slug, "purpose": "clinical-care",
            "study": {"study_key": "k1", "modality": "DX", "body_part": "HAND",
                      "patient_age_years": 9.5, "patient_sex": "M"}}
    assert client.post("/api/v1/decisions", json=body, headers=headers).get_json()["decision"] == "permit"

    cluster.stop()
    body["study"]["study_key"] = "k2"
    response = client.post("/api/v1/decisions", json=body, headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "REGISTRY_UNAVAILABLE"
    assert "permit" not in response.get_data(as_text=True)

    cluster.start()
    response = client.post("/api/v1/decisions", json=body, headers=headers)
    assert response.status_code == 200 and response.get_json()["decision"] == "permit"
    engine.dispose()
