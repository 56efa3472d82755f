"""The staff API for objections: record, withdraw, upload CSV and FHIR (line-by-line errors, nothing
stored from a failed upload), export, the audited access lookup, and a hospital's privacy officer
acting only for their own hospital."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from registry.client import pseudonym
from registry.db.audit import AuditEntry
from registry.db.consent import PatientObjection
from registry.db.organisations import Organisation
from registry.db.users import User
from registry.services import api_tokens
from tests.factories import SYSTEM

KEY = b"k" * 32


def _token(session, clock, email: str) -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="t")
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def _hospital(session, name: str) -> int:  # noqa: ANN001
    return session.scalar(select(Organisation.id).where(Organisation.name == name))


def _count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(PatientObjection))


def test_record_withdraw_and_the_hospitals_own_officer(client, session, clock):
    national, oost_officer = _token(session, clock, "privacy@demo.aifi.nl"), _token(session, clock, "privacy@oost.demo.aifi.nl")
    oost, noord = _hospital(session, "Demo Ziekenhuis Oost"), _hospital(session, "Demo Ziekenhuis Noord")
    who = pseudonym("API-1", KEY)
    elsewhere = client.post("/api/v1/objections", headers=oost_officer,
                            json={"hospital_id": noord, "pseudonym": who, "purposes": ["research"]})
    assert elsewhere.status_code == 400 and "hospital_id" in elsewhere.get_json()["error"]["fields"]
    created = client.post("/api/v1/objections", headers=oost_officer,
                          json={"hospital_id": oost, "pseudonym": who, "purposes": ["research", "quality-assurance"]})
    assert created.status_code == 201 and created.get_json()["total"] == 2
    first = created.get_json()["items"][0]
    again = client.post("/api/v1/objections", headers=national,
                        json={"hospital_id": oost, "pseudonym": who, "purposes": ["research"]})
    assert again.status_code == 400  # already recorded
    withdrawn = client.post(f"/api/v1/objections/{first['id']}/withdraw", headers=oost_officer,
                            json={"reason": "patient changed their mind"})
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["withdrawn_on"] == "2026-06-01" and withdrawn.get_json()["active"] is False
    listed = client.get(f"/api/v1/objections?hospital={oost}&state=withdrawn", headers=oost_officer).get_json()
    assert first["id"] in [o["id"] for o in listed["items"]]  # history kept
    # Noord's objections are not Oost's officer's business.
    assert client.get(f"/api/v1/objections?hospital={noord}", headers=oost_officer).get_json()["total"] == 0


def test_uploads_report_line_errors_and_store_nothing(client, session, clock):
    headers = _token(session, clock, "privacy@demo.aifi.nl")
    oost = _hospital(session, "Demo Ziekenhuis Oost")
    before = _count(session)
    bad = f"pseudonym,purpose,recorded_on\n{pseudonym('U1', KEY)},research,\nBSN123456782,research,\n"
    refused = client.post(f"/api/v1/objections/import?hospital_id={oost}", headers=headers, data=bad,
                          content_type="text/csv")
    assert refused.status_code == 400
    assert set(refused.get_json()["error"]["fields"]) == {"line 3"}
    assert _count(session) == before
    wrong_type = client.post(f"/api/v1/objections/import?hospital_id={oost}", headers=headers, data="{}",
                             content_type="application/json")
    assert wrong_type.status_code == 400 and _count(session) == before

    good = f"pseudonym,purpose,recorded_on\n{pseudonym('U1', KEY)},research,\n{pseudonym('U2', KEY)},research,\n"
    done = client.post(f"/api/v1/objections/import?hospital_id={oost}", headers=headers, data=good,
                       content_type="text/csv")
    assert done.status_code == 200 and done.get_json() == {"recorded": 2, "withdrawn": 0}
    bundle = client.get(f"/api/v1/objections/export?format=fhir&hospital_id={oost}", headers=headers)
    assert bundle.status_code == 200 and bundle.headers["Content-Type"].startswith("application/fhir+json")
    values = {e["resource"]["patient"]["identifier"]["value"] for e in bundle.get_json()["entry"]}
    assert {pseudonym("U1", KEY), pseudonym("U2", KEY)} <= values
    # The exported Bundle, uploaded as the new set after a key rotation, replaces the set.
    rotated = client.post(f"/api/v1/objections/import?hospital_id={oost}&replace=true", headers=headers,
                          data=json.dumps(bundle.get_json()), content_type="application/fhir+json")
    assert rotated.status_code == 200, rotated.get_json()
    csv_export = client.get(f"/api/v1/objections/export?format=csv&hospital_id={oost}", headers=headers)
    assert csv_export.status_code == 200 and pseudonym("U2", KEY) in csv_export.get_data(as_text=True)


def test_the_access_lookup_is_audited(client, session, clock):
    from registry.demo import DEMO_OBJECTING_PSEUDONYM

    headers = _token(session, clock, "privacy@demo.aifi.nl")
    before = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event_type == "subject-access"))
    answer = client.get(f"/api/v1/objections/access?pseudonym={DEMO_OBJECTING_PSEUDONYM}", headers=headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["objections"] and any(d["objection_applied"] for d in body["decisions"])
    after = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event_type == "subject-access"))
    assert after == before + 1
    assert client.get("/api/v1/objections/access?pseudonym=12345", headers=headers).status_code == 400
