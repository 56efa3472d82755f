"""The audit API: public checkpoints, and for staff verify, search, history and exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import select

from registry.auth.tokens import issue_user_token
from registry.db.audit import AuditEntry
from registry.db.users import User
from tests.factories import bearer, child_hand, make_world

ENDPOINTS = [("post", "/api/v1/audit/checkpoints"), ("post", "/api/v1/audit/verify"),
             ("get", "/api/v1/audit/entries"), ("get", "/api/v1/audit/objects/tool/bonexpert"),
             ("get", "/api/v1/audit/export?format=jsonl")]


def staff(session, clock, email: str) -> dict:
    user = session.scalar(select(User).where(User.email == email))
    issued = issue_user_token(session, clock=clock, user=user, ttl=600)
    session.commit()
    return {"Authorization": f"Bearer {issued.access_token}"}


@pytest.fixture
def auditor(session, clock):
    return staff(session, clock, "auditor@demo.aifi.nl")


@pytest.fixture
def decided(client, session, clock):
    """A world of our own with one permit and one dry run through the API."""
    world = make_world(session, clock)
    session.commit()
    headers = bearer(session, clock, world.gateway)
    for body in (child_hand(world.tool.slug, "api-1"), child_hand(world.tool.slug, "api-2", dry_run=True)):
        assert client.post("/api/v1/decisions", json=body.model_dump(mode="json", exclude_none=True),
                           headers=headers).status_code == 200
    return world


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_without_a_token_is_401(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_without_the_permission_is_403(client, session, clock, method, path):
    headers = staff(session, clock, "inkoop@demo.aifi.nl")  # procurement: no audit permissions
    assert getattr(client, method)(path, headers=headers).status_code == 403


def test_a_gateway_token_cannot_read_the_audit_trail(client, session, clock):
    world = make_world(session, clock)
    headers = bearer(session, clock, world.gateway)
    assert client.get("/api/v1/audit/entries", headers=headers).status_code == 403


def test_privacy_officer_may_read_but_not_export(client, session, clock):
    headers = staff(session, clock, "privacy@demo.aifi.nl")
    assert client.get("/api/v1/audit/entries", headers=headers).status_code == 200
    assert client.get("/api/v1/audit/export?format=csv", headers=headers).status_code == 403


def test_an_auditor_may_not_sign_checkpoints(client, auditor):
    assert client.post("/api/v1/audit/checkpoints", headers=auditor).status_code == 403


def test_checkpoints_are_public_and_verify_with_the_published_key(client, session, clock):
    admin = staff(session, clock, "admin@demo.aifi.nl")
    created = client.post("/api/v1/audit/checkpoints", headers=admin)
    assert created.status_code == 201
    body = client.get("/api/v1/audit/checkpoints").get_json()  # no token at all
    assert body["jwks_uri"].endswith("/.well-known/jwks.json")
    checkpoint = body["checkpoints"][-1]
    assert checkpoint == created.get_json()
    keys = {k["kid"]: OKPKey.import_key(k) for k in body["keys"]}
    statement = json.loads(jws.deserialize_compact(checkpoint["jws"], keys[checkpoint["kid"]],
                                                   algorithms=["Ed25519"]).payload)
    assert (statement["seq"], statement["head_hash"]) == (checkpoint["seq"], checkpoint["head_hash"])
    assert client.get("/api/v1/audit/checkpoints?after_seq=x").status_code == 400


def test_admin_creates_a_checkpoint(client, session, clock):
    headers = staff(session, clock, "admin@demo.aifi.nl")
    response = client.post("/api/v1/audit/checkpoints", headers=headers)
    assert response.status_code == 201 and response.get_json()["seq"] > 0


def test_verify_seals_and_reports_ok(client, session, auditor, decided):
    report = client.post("/api/v1/audit/verify", headers=auditor).get_json()
    assert report["ok"] is True and report["failure"] is None
    assert report["entries_checked"] == report["head_seq"] > 0
    assert session.scalar(select(AuditEntry).where(AuditEntry.sealed.is_(False))) is None


def test_verify_reports_the_first_bad_entry(client, session, auditor, decided):
    client.post("/api/v1/audit/verify", headers=auditor)
    session.execute(AuditEntry.__table__.update().where(AuditEntry.seq == 3).values(actor="user:0"))
    session.commit()
    report = client.post("/api/v1/audit/verify", headers=auditor).get_json()
    assert report["ok"] is False and report["failure"]["seq"] == 3


def test_verify_rejects_malformed_kept_checkpoints(client, auditor):
    response = client.post("/api/v1/audit/verify", json={"checkpoints": [1]}, headers=auditor)
    assert response.status_code == 400


def test_search_filters_by_organisation_action_and_object(client, auditor, decided):
    hospital = decided.hospital.id
    body = client.get(f"/api/v1/audit/entries?organisation={hospital}&action=E",
                      headers=auditor).get_json()
    assert len(body["entries"]) == 2
    assert {e["on_behalf_of_id"] for e in body["entries"]} == {hospital}
    assert {e["event_type"] for e in body["entries"]} == {"decision"}
    by_tool = client.get(f"/api/v1/audit/entries?object_type=tool&object_id={decided.tool.slug}",
                         headers=auditor).get_json()["entries"]
    # Both decisions named the tool among their objects.
    assert [e["event_type"] for e in by_tool] == ["decision", "decision"]
    assert client.get("/api/v1/audit/entries?action=X", headers=auditor).status_code == 400
    assert client.get("/api/v1/audit/entries?from=yesterday", headers=auditor).status_code == 400


def test_search_by_period_and_actor(client, auditor, decided, clock):
    day = clock.now().date().isoformat()
    actor = f"gateway:{decided.gateway.client_id}"
    body = client.get(f"/api/v1/audit/entries?actor={actor}&from={day}&to={day}",
                      headers=auditor).get_json()
    assert len(body["entries"]) == 2
    assert client.get(f"/api/v1/audit/entries?actor={actor}&from=2020-01-01&to=2020-01-02",
                      headers=auditor).get_json()["entries"] == []


def test_object_history_is_oldest_first(client, auditor, decided):
    body = client.get(f"/api/v1/audit/objects/licences/{decided.licence.id}", headers=auditor).get_json()
    assert [e["action_code"] for e in body["entries"]][:1] == ["C"]
    # The licence's own changes, and entries that involved it (the decisions made under it).
    lic = {"type": "licences", "id": str(decided.licence.id)}
    assert all((e["object_type"], e["object_id"]) == ("licences", lic["id"])
               or any({k: o.get(k) for k in ("type", "id")} == lic for o in e["objects"])
               for e in body["entries"])


def test_export_csv_and_jsonl(client, session, auditor, decided):
    response = client.get(f"/api/v1/audit/export?format=csv&organisation={decided.hospital.id}",
                          headers=auditor)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2 and all(r["seq"] and r["entry_hash"] for r in rows)
    lines = client.get(f"/api/v1/audit/export?format=jsonl&organisation={decided.hospital.id}",
                       headers=auditor).get_data(as_text=True).splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [r["event_id"] for r in rows]
    # Exporting the log is itself logged.
    assert session.scalars(select(AuditEntry).where(AuditEntry.event_type == "export")).all()
    assert client.get("/api/v1/audit/export?format=xml", headers=auditor).status_code == 400


def test_export_fhir_bundle_validates_as_r4_auditevents(client, auditor, decided):
    response = client.get(f"/api/v1/audit/export?format=fhir&organisation={decided.hospital.id}",
                          headers=auditor)
    assert response.mimetype == "application/fhir+json"
    data = response.get_json()
    bundle = Bundle.model_validate(data)
    assert bundle.type == "collection" and len(bundle.entry) == 2
    events = [AuditEvent.model_validate(e["resource"]) for e in data["entry"]]
    assert {e.action for e in events} == {"E"}
    assert {e.outcome for e in events} == {"0"}
    names = {ent.name for e in events for ent in e.entity or [] if ent.name}
    assert any(n.startswith("decision/") for n in names)


def test_fhir_export_shows_the_patient_only_as_pseudonym(client, session, clock, auditor):
    world = make_world(session, clock)
    headers = bearer(session, clock, world.gateway)
    body = child_hand(world.tool.slug, "pseudo", patient_pseudonym="a" * 64,
                      study={"patient_age_years": 40})  # an adult: outside the intended use
    client.post("/api/v1/decisions", json=body.model_dump(mode="json", exclude_none=True), headers=headers)
    data = client.get(f"/api/v1/audit/export?format=fhir&organisation={world.hospital.id}",
                      headers=auditor).get_json()
    event = AuditEvent.model_validate(data["entry"][0]["resource"])
    patient = [e for e in event.entity if e.role and e.role.code == "1"]
    assert patient[0].what.identifier.value == "a" * 64
    assert patient[0].what.identifier.system.endswith("patient-pseudonym")
    assert event.outcome == "4"  # a deny is a refused request: FHIR's "minor failure"
    checks = {d.type: d.valueString for e in event.entity for d in e.detail or []}
    assert "OUTSIDE_INTENDED_USE" in checks["check:reasons"]
    assert "a" * 64 not in json.dumps([e.name for e in event.entity])
