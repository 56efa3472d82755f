"""POST /api/v1/decisions at the HTTP edge: authentication, 400s that change nothing, the
stored decision, time travel, and 503 (never a permit) when the database is gone."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from registry.db.decisions import Decision
from tests.factories import bearer, make_world

GOOD = {"tool": None, "purpose": "clinical-care",
        "study": {"study_key": "abc123", "modality": "DX", "body_part": "HAND",
                  "patient_age_years": 9.5, "patient_sex": "M"}}


def body(world, **changes):
    b = json.loads(json.dumps(GOOD))
    b["tool"] = world.tool.slug
    for key, value in changes.items():
        if key.startswith("study."):
            b["study"][key[6:]] = value
        else:
            b[key] = value
    return b


def test_permit_over_http(client, world, headers):
    response = client.post("/api/v1/decisions", json=body(world), headers=headers)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["decision"] == "permit"
    assert set(answer) >= {"decision_id", "decision", "reasons", "obligations", "refs", "quota",
                           "policy_version", "decided_at", "ttl_seconds"}
    assert answer["decided_at"].endswith("Z")
    shown = client.get(f"/api/v1/decisions/{answer['decision_id']}", headers=headers).get_json()
    assert shown["decision"] == "permit" and shown["rules"] == ["route"]
    assert shown["facts"]["licence"]["present"] is True


def test_deny_is_a_200_with_reasons(client, world, headers):
    response = client.post("/api/v1/decisions", json=body(world, purpose="research"), headers=headers)
    assert response.status_code == 200
    assert [r["code"] for r in response.get_json()["reasons"]] == ["PURPOSE_NOT_COVERED"]


@pytest.mark.parametrize("make, field", [
    (lambda w: dict(body(w), hospital="90000011"), "hospital"),
    (lambda w: body(w, **{"study.extra": 1}), "study.extra"),
    (lambda w: body(w, **{"study.patient_age_years": "9"}), "study.patient_age_years"),
    (lambda w: body(w, **{"study.patient_age": "9Y"}), "study.patient_age"),
    (lambda w: body(w, **{"study.patient_age": "009X"}), "study.patient_age"),
    (lambda w: body(w, **{"study.study_key": "x" * 129}), "study.study_key"),
    (lambda w: body(w, **{"study.study_key": ""}), "study.study_key"),
    (lambda w: body(w, **{"study.study_key": "111222333"}), "study.study_key"),  # a BSN
    (lambda w: body(w, **{"study.patient_sex": "male"}), "study.patient_sex"),
    (lambda w: body(w, **{"study.patient_age_years": 200}), "study.patient_age_years"),
    (lambda w: body(w, **{"study.sop_class_uids": ["not-a-uid"]}), "study.sop_class_uids"),
    (lambda w: body(w, dry_run="yes"), "dry_run"),
    (lambda w: body(w, patient_pseudonym="123456789"), "patient_pseudonym"),
    (lambda w: body(w, tool="Bone Xpert!"), "tool"),
    (lambda w: {k: v for k, v in body(w).items() if k != "study"}, "study"),
])
def test_malformed_bodies_are_400_and_change_nothing(client, session, world, headers, make, field):
    before = session.scalar(select(func.count()).select_from(Decision))
    response = client.post("/api/v1/decisions", json=make(world), headers=headers)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert field in error["fields"], error
    assert session.scalar(select(func.count()).select_from(Decision)) == before


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b"null", b'{"tool": "x"', "é".encode("latin-1")])
def test_unparseable_bodies_are_400(client, session, headers, raw):
    before = session.scalar(select(func.count()).select_from(Decision))
    response = client.post("/api/v1/decisions", data=raw, headers=dict(headers, **{"Content-Type": "application/json"}))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_REQUEST"
    assert session.scalar(select(func.count()).select_from(Decision)) == before


def test_oversized_body_is_refused_before_parsing(client, world, headers):
    big = body(world, **{"study.sop_class_uids": ["1.2.3"] * 200000})
    response = client.post("/api/v1/decisions", json=big, headers=headers)
    assert response.status_code == 413


@pytest.mark.parametrize("auth", [None, "Bearer nonsense", "Bearer aifi_at_unknown", "Basic Zm9vOmJhcg=="])
def test_without_a_valid_token_is_401(client, world, auth):
    headers = {"Authorization": auth} if auth else {}
    response = client.post("/api/v1/decisions", json=body(world), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_scope_is_403(client, session, clock, world):
    headers = bearer(session, clock, world.gateway, scope="usage:report")
    assert client.post("/api/v1/decisions", json=body(world), headers=headers).status_code == 403


def test_an_expired_token_is_401(client, session, clock, world):
    headers = bearer(session, clock, world.gateway)
    clock.advance(seconds=601)
    assert client.post("/api/v1/decisions", json=body(world), headers=headers).status_code == 401


def test_another_hospitals_decision_is_not_found(client, session, clock, world, headers):
    other = make_world(session, clock)
    session.commit()
    mine = client.post("/api/v1/decisions", json=body(world), headers=headers).get_json()
    theirs = bearer(session, clock, other.gateway)
    assert client.get(f"/api/v1/decisions/{mine['decision_id']}", headers=theirs).status_code == 404


def test_gateway_time_travel_for_its_own_hospital(client, world, headers):
    response = client.post("/api/v1/decisions/evaluate", json=dict(body(world), at="2027-01-01"),
                           headers=headers)
    assert response.status_code == 200
    assert [r["code"] for r in response.get_json()["reasons"]] == ["LICENCE_NOT_IN_FORCE",
                                                                   "CONTRACT_NOT_IN_FORCE"]
    other = client.post("/api/v1/decisions/evaluate",
                        json=dict(body(world), at="2026-06-01", hospital_ura="90000011"), headers=headers)
    assert other.status_code == 400


def test_database_unreachable_is_503_never_a_permit(settings, clock):
    """An engine pointed at a closed port: the token check itself cannot reach the database."""
    from registry.app import create_app
    from registry.db.base import make_engine

    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none",
                         connect_args={"connect_timeout": 2})
    app = create_app(settings, clock=clock, engine=engine)
    response = app.test_client().post("/api/v1/decisions", json=GOOD,
                                      headers={"Authorization": "Bearer aifi_at_whatever"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "REGISTRY_UNAVAILABLE"
