"""Patients' objections end to end on the database: the documented pseudonym, CSV and FHIR both ways,
a rejected upload that stores nothing, the atomic key-rotation replacement, purpose-specific denies,
withdrawal keeping history, and the audited data-subject access lookup."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from registry.client import pseudonym
from registry.clock import FixedClock
from registry.db.audit import AuditEntry
from registry.db.changes import ChangeRecord
from registry.db.consent import PatientObjection
from registry.domain.objections import consent_bundle, consent_resource
from registry.services import decisions, objections
from registry.services.errors import ValidationFailed
from tests.factories import SYSTEM, child_hand, make_world

KEY = bytes(range(32))  # in real life: secrets.token_bytes(32), shared by hospital and gateway only
kw = {"actor": SYSTEM}


def test_the_pseudonym_is_hmac_sha256_of_the_trimmed_patient_id():
    # The computation as docs/objections.md shows it, written out here again.
    expected = hmac.new(KEY, "PAT-0001".encode("utf-8"), hashlib.sha256).hexdigest()
    assert pseudonym("  PAT-0001 ", KEY) == expected and len(expected) == 64
    assert pseudonym("PAT-0002", KEY) != expected
    with pytest.raises(ValueError):
        pseudonym("PAT-0001", b"short key")


def _count(session, model) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(model))


def _active(session, hospital_id: int) -> set[tuple[str, str]]:  # noqa: ANN001
    return {(o.pseudonym, o.purpose) for o in session.scalars(select(PatientObjection).where(
        PatientObjection.hospital_id == hospital_id, PatientObjection.withdrawn_on.is_(None)))}


def _outcome(session, world, clock, engine, key: str, who: str, purpose: str = "clinical-care") -> list[str]:  # noqa: ANN001
    decision = decisions.decide(session, actor=world.actor, clock=clock, engine=engine, request=child_hand(
        world.tool.slug, key, purpose=purpose, patient_pseudonym=who)).decision
    return [r["code"] for r in decision.reasons]


def test_csv_both_ways_and_a_rejected_upload_stores_nothing(session, clock):
    world = make_world(session, clock)
    a, b = pseudonym("PAT-A", KEY), pseudonym("PAT-B", KEY)
    csv_text = f"pseudonym,purpose,recorded_on\n{a},research,2026-05-01\n{a},product-improvement,\n{b},research,\n"
    result = objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                          content=csv_text.encode())
    assert (result.recorded, result.withdrawn) == (3, 0)
    assert _active(session, world.hospital.id) == {(a, "research"), (a, "product-improvement"), (b, "research")}
    exported = objections.export_objections(session, **kw, fmt="csv", hospital_id=world.hospital.id)
    assert exported.splitlines()[0] == "pseudonym,purpose,recorded_on"
    assert f"{a},research,2026-05-01" in exported and len(exported.splitlines()) == 4

    before = (_count(session, PatientObjection), _count(session, ChangeRecord), _count(session, AuditEntry))
    bad = (f"pseudonym,purpose,recorded_on\n{pseudonym('PAT-C', KEY)},research,\nnot-a-hash,research,\n"
           f"{b},teleportation,\n{a},research,\n{b},clinical-care,2026-13-01\n")
    with pytest.raises(objections.UploadRefused) as refused:
        objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                     content=bad.encode())
    lines = {e.line: e.message for e in refused.value.errors}
    assert set(lines) == {3, 4, 5, 6}
    assert "hex" in lines[3] and "unknown purpose" in lines[4] and "already recorded" in lines[5]
    assert "date" in lines[6]
    assert (_count(session, PatientObjection), _count(session, ChangeRecord), _count(session, AuditEntry)) == before
    with pytest.raises(objections.UploadRefused) as wrong_columns:
        objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                     content=b"patient,purpose\nx,research\n")
    assert "header" in wrong_columns.value.errors[0].message
    duplicates = f"pseudonym,purpose,recorded_on\n{pseudonym('PAT-D', KEY)},research,\n{pseudonym('PAT-D', KEY)},research,\n"
    with pytest.raises(objections.UploadRefused) as dup:
        objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                     content=duplicates.encode())
    assert "duplicate of line 2" in dup.value.errors[0].message


def test_fhir_both_ways_and_a_consent_that_is_not_deny_is_refused(session, clock):
    world = make_world(session, clock)
    a = pseudonym("PAT-F", KEY)
    bundle = consent_bundle([consent_resource(pseudonym_value=a, purpose="research", recorded_on=date(2026, 5, 2),
                                              active=True, hospital_ura=world.hospital.ura, ref="x1")])
    objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="fhir",
                                 content=json.dumps(bundle).encode())
    exported = objections.export_objections(session, **kw, fmt="fhir", hospital_id=world.hospital.id)
    [entry] = exported["entry"]
    consent = entry["resource"]
    assert consent["resourceType"] == "Consent" and consent["provision"]["type"] == "deny"
    assert consent["provision"]["purpose"][0]["code"] == "research"
    assert consent["patient"]["identifier"]["value"] == a and consent["status"] == "active"
    # What the registry exports, it reads back (into another hospital).
    other = make_world(session, clock)
    objections.import_objections(session, **kw, clock=clock, hospital_id=other.hospital.id, fmt="fhir",
                                 content=json.dumps(exported).encode())
    assert _active(session, other.hospital.id) == {(a, "research")}

    permit = json.loads(json.dumps(bundle))
    permit["entry"][0]["resource"]["provision"]["type"] = "permit"
    permit["entry"].append({"resource": {"resourceType": "Consent", "status": "bogus"}})
    before = _count(session, PatientObjection)
    with pytest.raises(objections.UploadRefused) as refused:
        objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="fhir",
                                     content=json.dumps(permit).encode())
    messages = {e.line: e.message for e in refused.value.errors}
    assert "deny" in messages[1] and "invalid Consent" in messages[2]
    assert _count(session, PatientObjection) == before


def test_a_key_rotation_replaces_the_whole_set_atomically(session, clock):
    world = make_world(session, clock)
    old_key, new_key = KEY, bytes(range(32, 64))
    objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                 content=f"pseudonym,purpose,recorded_on\n{pseudonym('P1', old_key)},research,\n"
                                         f"{pseudonym('P2', old_key)},research,\n".encode())
    broken = f"pseudonym,purpose,recorded_on\n{pseudonym('P1', new_key)},research,\nxyz,research,\n"
    with pytest.raises(objections.UploadRefused):
        objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                     content=broken.encode(), replace=True)
    assert _active(session, world.hospital.id) == {(pseudonym("P1", old_key), "research"),
                                                   (pseudonym("P2", old_key), "research")}
    fresh = f"pseudonym,purpose,recorded_on\n{pseudonym('P1', new_key)},research,\n{pseudonym('P2', new_key)},research,\n"
    result = objections.import_objections(session, **kw, clock=clock, hospital_id=world.hospital.id, fmt="csv",
                                          content=fresh.encode(), replace=True)
    assert (result.recorded, result.withdrawn) == (2, 2)
    assert _active(session, world.hospital.id) == {(pseudonym("P1", new_key), "research"),
                                                   (pseudonym("P2", new_key), "research")}
    old = session.scalar(select(PatientObjection).where(PatientObjection.pseudonym == pseudonym("P1", old_key)))
    assert old.withdrawn_reason == objections.ROTATION_REASON and old.withdrawn_on == date(2026, 6, 1)


def test_denies_only_the_objected_purpose_until_the_day_of_withdrawal(session, clock, policy_engine):
    world = make_world(session, clock, purposes=("clinical-care", "research"))
    who = pseudonym("PAT-R", KEY)
    [row] = objections.record_objection(session, **kw, clock=clock, hospital_id=world.hospital.id, pseudonym=who,
                                        purposes=["research"], recorded_on=date(2026, 5, 1))
    assert _outcome(session, world, clock, policy_engine, "o1", who, "research") == ["PATIENT_OBJECTION"]
    assert _outcome(session, world, clock, policy_engine, "o2", who, "clinical-care") == []
    assert _outcome(session, world, clock, policy_engine, "o3", pseudonym("PAT-S", KEY), "research") == []
    objections.withdraw_objection(session, **kw, clock=clock, objection_id=row.id)  # last day: today
    assert _outcome(session, world, clock, policy_engine, "o4", who, "research") == ["PATIENT_OBJECTION"]
    tomorrow = FixedClock(datetime(2026, 6, 2, 10, 0, tzinfo=timezone.utc))
    assert _outcome(session, world, tomorrow, policy_engine, "o5", who, "research") == []
    assert session.get(PatientObjection, row.id).withdrawn_on == date(2026, 6, 1)  # history kept
    with pytest.raises(ValidationFailed):
        objections.withdraw_objection(session, **kw, clock=clock, objection_id=row.id)


def test_the_access_lookup_shows_every_decision_and_is_audited(session, clock, policy_engine):
    world = make_world(session, clock)
    who = pseudonym("PAT-DSAR", KEY)
    objections.record_objection(session, **kw, clock=clock, hospital_id=world.hospital.id, pseudonym=who,
                                purposes=["clinical-care"], recorded_on=date(2026, 5, 1))
    _outcome(session, world, clock, policy_engine, "a1", who)
    _outcome(session, world, clock, policy_engine, "a2", pseudonym("PAT-OTHER", KEY))
    lookups = select(func.count()).select_from(AuditEntry).where(AuditEntry.event_type == "subject-access")
    session.flush()
    audits = session.scalar(lookups)
    report = objections.subject_access(session, **kw, clock=clock, pseudonym=who)
    assert [d.request["patient_pseudonym"] for d in report.decisions] == [who]
    assert report.decisions[0].outcome == "deny" and len(report.objections) == 1
    assert session.scalar(lookups) == audits + 1
    entry = session.scalar(select(AuditEntry).where(AuditEntry.event_type == "subject-access")
                           .order_by(AuditEntry.id.desc()).limit(1))
    assert (entry.event_type, entry.action_code, entry.object_id) == ("subject-access", "R", who)
