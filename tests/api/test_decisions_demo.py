"""The demo world answers as it should: a permit for a pilot hospital's child hand X-ray to
BoneXpert, and a deny with the right reasons for each of the demo's broken states."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry.db.organisations import Gateway, Organisation
from tests.factories import bearer

CHILD_HAND = {"tool": "bonexpert", "purpose": "clinical-care",
              "study": {"study_key": "demo-child-hand-1", "modality": "DX", "body_part": "HAND",
                        "patient_age": "009Y", "patient_sex": "F"}}


def _gateway(session, name):
    return session.scalar(select(Gateway).join(Organisation, Organisation.id == Gateway.hospital_id)
                          .where(Organisation.name == name))


def _ask(client, session, clock, hospital, body):
    headers = bearer(session, clock, _gateway(session, hospital))
    response = client.post("/api/v1/decisions", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_pilot_hospital_child_hand_to_bonexpert_is_permitted(client, session, clock):
    answer = _ask(client, session, clock, "Radboudumc", CHILD_HAND)
    assert answer["decision"] == "permit", answer["reasons"]
    assert answer["reasons"] == []
    assert answer["obligations"] == [{"code": "REPORT_USAGE"}]
    assert answer["quota"]["used"] == 1 and answer["quota"]["limit"] == 1200
    assert answer["policy_version"].startswith("sha256:")
    assert answer["refs"]["licence"]["reference"].startswith("AIFI-LIC-BONEXPERT-")


@pytest.mark.parametrize("hospital, body, codes", [
    ("Demo Ziekenhuis Noord", CHILD_HAND, ["AGREEMENT_NOT_SIGNED"]),
    ("Demo Ziekenhuis Zuid", CHILD_HAND, ["AGREEMENT_NOT_IN_FORCE"]),
    ("Demo Ziekenhuis Oost",
     {"tool": "cina-ipe", "purpose": "clinical-care",
      "study": {"study_key": "k-ct", "modality": "CT", "patient_age_years": 70, "contrast": True}},
     ["QUOTA_EXHAUSTED"]),
    ("Demo Ziekenhuis Oost",
     dict(CHILD_HAND, patient_pseudonym="5f0c1e2d3b4a5968778695a4b3c2d1e0f5e4d3c2b1a09f8e7d6c5b4a39281706"),
     ["PATIENT_OBJECTION"]),
    ("Catharina Ziekenhuis",
     {"tool": "rbfracture", "tool_version": "2.3-demo", "purpose": "clinical-care",
      "study": {"study_key": "k-rbf", "modality": "DX", "patient_age_years": 40}},
     ["TOOL_SUSPENDED"]),
    ("Gelre Ziekenhuizen", dict(CHILD_HAND, purpose="research"), ["PURPOSE_NOT_COVERED"]),
    ("Ziekenhuisgroep Twente",
     dict(CHILD_HAND, study={"study_key": "adult", "modality": "DX", "body_part": "HAND",
                             "patient_age_years": 40, "patient_sex": "M"}),
     ["OUTSIDE_INTENDED_USE"]),
])
def test_demo_broken_states_deny_with_reasons(client, session, clock, hospital, body, codes):
    answer = _ask(client, session, clock, hospital, body)
    assert answer["decision"] == "deny"
    assert [r["code"] for r in answer["reasons"]] == codes
    assert all(r["detail"] for r in answer["reasons"])
    assert answer["obligations"] == []


def test_offboarded_demo_hospital_gets_no_access(client, session, clock):
    """The offboarded hospital's gateway was revoked with it: its tokens do not work."""
    from registry.auth.tokens import issue_gateway_token

    gw = _gateway(session, "Ziekenhuis Voorbeeldstad")
    assert gw.status == "revoked"
    token = issue_gateway_token(session, clock=clock, gateway=gw, scope="routing:decide", ttl=60)
    session.commit()
    response = client.post("/api/v1/decisions", json=CHILD_HAND,
                           headers={"Authorization": f"Bearer {token.access_token}"})
    assert response.status_code == 401


def test_staff_time_travel_shows_offboarded_hospital_inactive(client, session, clock):
    from registry.auth.tokens import issue_user_token
    from registry.db.users import User

    user = session.scalar(select(User).where(User.email == "jurist@demo.aifi.nl"))
    token = issue_user_token(session, clock=clock, user=user, ttl=60)
    session.commit()
    body = dict(CHILD_HAND, at="2026-03-01", hospital_ura="99000104")
    response = client.post("/api/v1/decisions/evaluate", json=body,
                           headers={"Authorization": f"Bearer {token.access_token}"})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["decision"] == "deny"
    assert [r["code"] for r in answer["reasons"]] == ["HOSPITAL_INACTIVE"]
