"""The audit entry of a decision, field by field (NEN 7513: who, what, on whose behalf, which
patient, with which checks; and the terms it relied on, named as their change records name
them, so that an agreement's or a licence's history lists the decisions under it)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from registry.actor import Actor
from registry.db.audit import AuditEntry
from registry.permissions import permissions_for_roles
from registry.schemas import EvaluateIn
from registry.services import decisions, objections
from tests.factories import SYSTEM, child_hand, make_world

PSEUDONYM = "ab" * 32


def _entry(session, decision_id):
    session.expire_all()
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "decision",
                                                       AuditEntry.object_id == decision_id)).all()
    return entry


def _objects(entry):
    return sorted(entry.objects, key=lambda o: (o["type"], o["id"]))


def _terms(world):
    return [{"type": "data_processing_agreements", "id": str(world.agreement.id)},
            {"type": "framework_contracts", "id": str(world.contract.id)},
            {"type": "licences", "id": str(world.licence.id)}]


def test_a_permit_names_the_study_the_patient_and_the_terms(session, clock, policy_engine):
    world = make_world(session, clock)
    outcome = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                               request=child_hand(world.tool.slug, study_key="a-1",
                                                  patient_pseudonym=PSEUDONYM))
    d = outcome.decision
    entry = _entry(session, d.id)
    assert (entry.event_type, entry.action_code, entry.outcome) == ("decision", "E", "success")
    assert (entry.object_type, entry.object_id) == ("decision", d.id)
    assert (entry.actor, entry.purpose_of_use) == (world.actor.ref, "clinical-care")
    assert entry.on_behalf_of_id == world.hospital.id
    assert _objects(entry) == sorted([
        {"type": "decision", "id": d.id}, {"type": "tool", "id": world.tool.slug},
        {"type": "study", "id": "a-1", "sensitivity": "opaque-key"},
        {"type": "organisations", "id": str(world.hospital.id)},
        {"type": "gateways", "id": str(world.gateway.id)},
        {"type": "tool_versions", "id": str(world.version.id)},
        *_terms(world),
        {"type": "patient", "id": PSEUDONYM, "sensitivity": "pseudonym"},
    ], key=lambda o: (o["type"], o["id"]))
    assert entry.checks == {"authorisation": "permit", "consent": "no-objection", "reasons": []}
    assert entry.detail == {"outcome": "permit", "dry_run": False, "evaluated_on": "2026-06-01",
                            "policy_version": policy_engine.version}
    at = entry.recorded_at
    assert (at if at.tzinfo else at.replace(tzinfo=timezone.utc)) == clock.now()


def test_a_deny_for_an_objection_says_so_in_its_checks(session, clock, policy_engine):
    world = make_world(session, clock, approve_vendor=False)
    objections.record_objection(session, actor=SYSTEM, clock=clock, hospital_id=world.hospital.id,
                                pseudonym=PSEUDONYM, purposes=["clinical-care"], recorded_on=date(2026, 1, 1))
    outcome = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                               request=child_hand(world.tool.slug, study_key="a-2", dry_run=True,
                                                  patient_pseudonym=PSEUDONYM))
    entry = _entry(session, outcome.decision.id)
    assert (entry.event_type, entry.outcome) == ("decision", "denied")
    assert entry.checks == {"authorisation": "deny", "consent": "objection",
                            "reasons": ["SUBPROCESSOR_NOT_APPROVED", "PATIENT_OBJECTION"]}
    assert entry.detail["outcome"] == "deny" and entry.detail["dry_run"] is True
    assert {"type": "patient", "id": PSEUDONYM, "sensitivity": "pseudonym"} in entry.objects


def test_a_deny_for_another_reason_has_no_objection_and_no_patient(session, clock, policy_engine):
    world = make_world(session, clock, agreement_status="in_review")
    outcome = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                               request=child_hand(world.tool.slug, study_key="a-3"))
    entry = _entry(session, outcome.decision.id)
    assert entry.checks == {"authorisation": "deny", "consent": "no-objection",
                            "reasons": ["AGREEMENT_NOT_SIGNED"]}
    assert not [o for o in entry.objects if o["type"] == "patient"]


def test_a_staff_evaluation_names_no_gateway_and_the_day_asked(session, clock, policy_engine):
    world = make_world(session, clock)
    staff = Actor(kind="user", id="41", roles=("legal",), permissions=permissions_for_roles(["legal"]))
    request = EvaluateIn.model_validate(dict(child_hand(world.tool.slug, study_key="a-4").model_dump(),
                                             at="2026-03-01", hospital_ura=world.hospital.ura))
    outcome = decisions.evaluate_at(session, actor=staff, clock=clock, engine=policy_engine, request=request)
    entry = _entry(session, outcome.decision.id)
    assert (entry.event_type, entry.outcome, entry.actor) == ("evaluation", "success", "user:41")
    assert entry.detail == {"outcome": "permit", "dry_run": True, "evaluated_on": "2026-03-01",
                            "policy_version": policy_engine.version}
    assert "gateways" not in [o["type"] for o in entry.objects]
    for named in ({"type": "organisations", "id": str(world.hospital.id)}, *_terms(world)):
        assert named in entry.objects  # the terms it was judged on, as for a decision
