"""The decision service on real rows: each reason code on its own and in combination, the
inclusive end-date edge, idempotent retries, dry runs, overage, time travel."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from registry.actor import Actor
from registry.clock import FixedClock
from registry.db.audit import AuditEntry
from registry.db.decisions import Decision
from registry.permissions import Permission
from registry.schemas import EvaluateIn
from registry.services import agreements, contracts, decisions, objections, organisations, tools
from registry.services.gateways import set_gateway_status
from tests.factories import SYSTEM, child_hand, make_world
from tests.pades import upload_signed

PSEUDONYM = "ab" * 32


def decide(session, world, clock, policy_engine, **kw):
    request = child_hand(kw.pop("tool", world.tool.slug), **kw)
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=request)


def codes(outcome):
    return [r["code"] for r in outcome.decision.reasons]


def test_a_complete_world_permits_and_reserves(session, clock, policy_engine):
    world = make_world(session, clock)
    outcome = decide(session, world, clock, policy_engine)
    assert outcome.decision.outcome == "permit"
    assert outcome.decision.reservation == "reserved"
    assert outcome.quota == {"limit": 100, "used": 1, "remaining": 99,
                             "period_start": "2026-01-01", "period_end": "2026-12-31"}
    assert outcome.decision.rules == ["route"]


# Each breakage makes exactly one reason appear.
def _gateway_suspended(s, w, c):
    set_gateway_status(s, actor=SYSTEM, clock=c, client_id=w.gateway.client_id, status="suspended")


def _hospital_suspended(s, w, c):
    organisations.set_organisation_status(s, actor=SYSTEM, clock=c, organisation_id=w.hospital.id,
                                          status="suspended", reason="test")


def _tool_suspended(s, w, c):
    tools.suspend_tool_version(s, actor=SYSTEM, clock=c, tool_version_id=w.version.id, reason="risk")


def _licence_suspended(s, w, c):
    contracts.set_licence_status(s, actor=SYSTEM, clock=c, licence_id=w.licence.id,
                                 status="suspended", reason="unpaid invoice")


def _contract_terminated(s, w, c):
    contracts.set_contract_status(s, actor=SYSTEM, clock=c, contract_id=w.contract.id,
                                  status="terminated", reason="test")


def _agreement_terminated(s, w, c):
    agreements.transition_agreement(s, actor=SYSTEM, clock=c, agreement_id=w.agreement.id,
                                    to="terminated", note="test", terminated_on=date(2026, 5, 31),
                                    deletion_due_on=date(2026, 6, 30))


def _objection(s, w, c):
    objections.record_objection(s, actor=SYSTEM, clock=c, hospital_id=w.hospital.id,
                                pseudonym=PSEUDONYM, purposes=["clinical-care"],
                                recorded_on=date(2026, 1, 1))


def _no_licence(s, w, c):
    s.delete(w.licence)
    s.flush()


def _no_agreement(s, w, c):
    for sp in s.scalars(select(agreements.SubProcessor).where(
            agreements.SubProcessor.agreement_id == w.agreement.id)):
        s.delete(sp)
    s.flush()
    s.delete(w.agreement)
    s.flush()


@pytest.mark.parametrize("world_kw, breakage, request_kw, expected", [
    ({}, _gateway_suspended, {}, "GATEWAY_INACTIVE"),
    ({}, _hospital_suspended, {}, "HOSPITAL_INACTIVE"),
    ({}, None, {"tool": "no-such-tool"}, "TOOL_UNKNOWN"),
    ({}, None, {"tool_version": "9.9"}, "TOOL_UNKNOWN"),
    ({}, _tool_suspended, {}, "TOOL_SUSPENDED"),
    ({"certificate_expires_on": date(2026, 5, 31)}, None, {}, "TOOL_CERTIFICATE_EXPIRED"),
    ({"certificate_expires_on": None}, None, {}, "TOOL_CERTIFICATE_EXPIRED"),
    ({}, None, {"purpose": "marketing"}, "PURPOSE_UNKNOWN"),
    ({}, None, {"study": {"modality": "CT"}}, "OUTSIDE_INTENDED_USE"),
    ({}, _no_licence, {}, "NO_LICENCE"),
    ({"licence_term": (date(2026, 1, 1), date(2026, 5, 31))}, None, {}, "LICENCE_NOT_IN_FORCE"),
    ({}, _licence_suspended, {}, "LICENCE_NOT_IN_FORCE"),
    ({}, _contract_terminated, {}, "CONTRACT_NOT_IN_FORCE"),
    ({"quota_limit": 0}, None, {}, "QUOTA_EXHAUSTED"),
    ({}, _no_agreement, {}, "NO_AGREEMENT"),
    ({"agreement_status": "in_review"}, None, {}, "AGREEMENT_NOT_SIGNED"),
    ({"agreement_term": (date(2025, 1, 1), date(2026, 5, 31))}, None, {}, "AGREEMENT_NOT_IN_FORCE"),
    ({}, _agreement_terminated, {}, "AGREEMENT_NOT_SIGNED"),
    ({"purposes": ("research",)}, None, {}, "PURPOSE_NOT_COVERED"),
    ({"approve_vendor": False}, None, {}, "SUBPROCESSOR_NOT_APPROVED"),
    ({}, _objection, {"patient_pseudonym": PSEUDONYM}, "PATIENT_OBJECTION"),
])
def test_each_reason_code_on_its_own(session, clock, policy_engine, world_kw, breakage, request_kw,
                                     expected):
    world = make_world(session, clock, **world_kw)
    if breakage:
        breakage(session, world, clock)
    world.actor = Actor.for_gateway(world.gateway, world.actor.permissions)
    outcome = decide(session, world, clock, policy_engine, **request_kw)
    assert outcome.decision.outcome == "deny"
    assert codes(outcome) == [expected]
    reason = outcome.decision.reasons[0]
    assert reason["detail"]
    assert outcome.decision.reservation == "none"
    assert outcome.decision.obligations == []


def test_an_unknown_tool_is_named_as_the_gateway_asked_for_it(session, clock, policy_engine):
    world = make_world(session, clock)
    unknown = decide(session, world, clock, policy_engine, tool="no-such-tool")
    assert unknown.decision.reasons[0]["detail"] == "no tool 'no-such-tool'"
    version = decide(session, world, clock, policy_engine, tool_version="9.9")
    assert version.decision.reasons[0]["detail"] == f"no tool {world.tool.slug!r} in the requested version"


def test_an_agreement_that_lists_no_sub_processor_approves_none(session, clock, policy_engine):
    """The tool's vendor processes the studies after the operator; an agreement with no
    sub-processor at all approves nobody, which is a deny, not an error."""
    world = make_world(session, clock)
    for sp in session.scalars(select(agreements.SubProcessor).where(
            agreements.SubProcessor.agreement_id == world.agreement.id)):
        session.delete(sp)
    session.flush()
    outcome = decide(session, world, clock, policy_engine)
    assert codes(outcome) == ["SUBPROCESSOR_NOT_APPROVED"]
    assert outcome.decision.reasons[0]["detail"].endswith(f"sub-processor(s) {world.vendor.name}")


def test_outside_intended_use_names_the_attributes(session, clock, policy_engine):
    world = make_world(session, clock)
    outcome = decide(session, world, clock, policy_engine,
                     study={"modality": "CT", "patient_sex": None, "body_part": "CHEST"})
    assert codes(outcome) == ["OUTSIDE_INTENDED_USE"]
    detail = outcome.decision.reasons[0]["detail"]
    for attribute in ("modality", "body_part", "sex"):
        assert f"{attribute}:" in detail


def test_every_failing_condition_is_listed_in_a_stable_order(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=0, agreement_term=(date(2025, 1, 1), date(2026, 1, 31)),
                       approve_vendor=False)
    _objection(session, world, clock)
    outcome = decide(session, world, clock, policy_engine, patient_pseudonym=PSEUDONYM,
                     study={"patient_age_years": 25})
    assert codes(outcome) == ["OUTSIDE_INTENDED_USE", "QUOTA_EXHAUSTED", "AGREEMENT_NOT_IN_FORCE",
                              "SUBPROCESSOR_NOT_APPROVED", "PATIENT_OBJECTION"]
    refs = {r["code"]: r["ref"] for r in outcome.decision.reasons}
    assert refs["QUOTA_EXHAUSTED"] == f"licence:{world.licence.id}"
    assert refs["AGREEMENT_NOT_IN_FORCE"] == f"agreement:{world.agreement.id}"


def _at(local_day_end_utc: datetime) -> FixedClock:
    return FixedClock(local_day_end_utc)


@pytest.mark.parametrize("last_day, last_moment, first_moment_after", [
    # Summer time: 23:59:59 CEST is 21:59:59Z.
    (date(2026, 6, 30), datetime(2026, 6, 30, 21, 59, 59, tzinfo=timezone.utc),
     datetime(2026, 6, 30, 22, 0, 0, tzinfo=timezone.utc)),
    # Winter time: 23:59:59 CET is 22:59:59Z (the day after the October switch).
    (date(2026, 10, 25), datetime(2026, 10, 25, 22, 59, 59, tzinfo=timezone.utc),
     datetime(2026, 10, 25, 23, 0, 0, tzinfo=timezone.utc)),
])
def test_agreement_end_date_is_inclusive_in_amsterdam(session, clock, policy_engine, last_day,
                                                       last_moment, first_moment_after):
    world = make_world(session, clock, agreement_term=(date(2026, 1, 1), last_day))
    on_last_day = decide(session, world, _at(last_moment), policy_engine, study={"study_key": "a"})
    assert on_last_day.decision.outcome == "permit"
    day_after = decide(session, world, _at(first_moment_after), policy_engine, study={"study_key": "b"})
    assert codes(day_after) == ["AGREEMENT_NOT_IN_FORCE"]


def test_first_day_of_a_licence_permits_and_the_day_before_denies(session, clock, policy_engine):
    world = make_world(session, clock, licence_term=(date(2026, 7, 1), date(2026, 12, 31)))
    before = decide(session, world, _at(datetime(2026, 6, 30, 21, 59, 59, tzinfo=timezone.utc)),
                    policy_engine, study={"study_key": "a"})
    assert codes(before) == ["LICENCE_NOT_IN_FORCE"]
    first = decide(session, world, _at(datetime(2026, 6, 30, 22, 0, 0, tzinfo=timezone.utc)),
                   policy_engine, study={"study_key": "b"})
    assert first.decision.outcome == "permit"


def test_a_retried_permit_returns_the_same_decision_and_reserves_nothing_more(session, clock, policy_engine):
    world = make_world(session, clock)
    first = decide(session, world, clock, policy_engine)
    again = decide(session, world, clock, policy_engine)
    assert again.decision.id == first.decision.id
    assert again.replayed and not first.replayed
    assert again.quota["used"] == 1
    other = decide(session, world, clock, policy_engine, study={"study_key": "study-2"})
    assert other.decision.id != first.decision.id and other.quota["used"] == 2


def test_after_a_deny_the_same_study_is_evaluated_afresh(app, session, clock, policy_engine, test_ca):
    world = make_world(session, clock, agreement_status="approved")
    denied = decide(session, world, clock, policy_engine)
    assert denied.decision.outcome == "deny"
    upload_signed(app, session, clock, SYSTEM, world.agreement, test_ca)  # both parties' signatures: signed
    assert world.agreement.status == "signed"
    permitted = decide(session, world, clock, policy_engine)
    assert permitted.decision.outcome == "permit"
    assert permitted.decision.id != denied.decision.id


def test_dry_run_evaluates_and_logs_but_reserves_nothing(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1)
    dry = decide(session, world, clock, policy_engine, dry_run=True)
    assert dry.decision.outcome == "permit" and dry.decision.dry_run
    assert dry.decision.reservation == "none" and dry.decision.obligations == []
    assert dry.quota["used"] == 0
    assert session.get(Decision, dry.decision.id) is not None
    real = decide(session, world, clock, policy_engine)
    assert real.decision.outcome == "permit" and real.decision.id != dry.decision.id
    assert real.quota["used"] == 1


def test_quota_exhausted_with_overage_rule_permits_with_obligation(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1, on_quota_exhausted="overage")
    decide(session, world, clock, policy_engine, study={"study_key": "1"})
    over = decide(session, world, clock, policy_engine, study={"study_key": "2"})
    assert over.decision.outcome == "permit" and over.decision.overage
    assert {"code": "OVERAGE_BILLABLE"} in over.decision.obligations
    assert over.quota["used"] == 2 and over.quota["remaining"] == 0


def test_quota_exhausted_with_deny_rule(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=2)
    for key in ("1", "2"):
        assert decide(session, world, clock, policy_engine, study={"study_key": key}).decision.outcome == "permit"
    third = decide(session, world, clock, policy_engine, study={"study_key": "3"})
    assert codes(third) == ["QUOTA_EXHAUSTED"]
    assert "used 2 of 2" in third.decision.reasons[0]["detail"]


def test_monthly_quota_resets_each_month(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1, quota_period="month")
    may = FixedClock(datetime(2026, 5, 20, 10, tzinfo=timezone.utc))
    june = FixedClock(datetime(2026, 6, 2, 10, tzinfo=timezone.utc))
    assert decide(session, world, may, policy_engine, study={"study_key": "1"}).decision.outcome == "permit"
    assert codes(decide(session, world, may, policy_engine, study={"study_key": "2"})) == ["QUOTA_EXHAUSTED"]
    assert decide(session, world, june, policy_engine, study={"study_key": "3"}).decision.outcome == "permit"


def test_every_decision_is_stored_with_an_audit_entry(session, clock, policy_engine):
    world = make_world(session, clock, agreement_status="in_review")
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    outcome = decide(session, world, clock, policy_engine, patient_pseudonym=PSEUDONYM)
    stored = session.get(Decision, outcome.decision.id)
    assert stored.request["patient_pseudonym"] == PSEUDONYM
    assert stored.facts["agreement"]["signed"] is False
    assert stored.policy_version == policy_engine.version
    entry = session.scalar(select(AuditEntry).where(AuditEntry.object_id == outcome.decision.id))
    assert entry.action_code == "E" and entry.outcome == "denied"
    assert {"type": "patient", "id": PSEUDONYM, "sensitivity": "pseudonym"} in entry.objects
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == before + 1


def test_time_travel_evaluates_on_another_day_and_reserves_nothing(session, clock, policy_engine):
    world = make_world(session, clock, agreement_term=(date(2026, 1, 1), date(2026, 9, 30)))
    staff = Actor.system("legal-reviewer")
    body = child_hand(world.tool.slug).model_dump()
    for at, expected in (("2026-09-30", "permit"), ("2026-10-01", "deny")):
        request = EvaluateIn.model_validate(dict(body, at=at, hospital_ura=world.hospital.ura))
        outcome = decisions.evaluate_at(session, actor=staff, clock=clock, engine=policy_engine,
                                        request=request)
        assert outcome.decision.outcome == expected
        assert outcome.decision.kind == "evaluate" and outcome.decision.reservation == "none"
    assert outcome.quota["used"] == 0


def test_a_gateway_without_the_scope_cannot_decide(session, clock, policy_engine):
    from registry.actor import PermissionDenied

    world = make_world(session, clock)
    world.actor = Actor.for_gateway(world.gateway, frozenset({Permission.USAGE_REPORT}))
    with pytest.raises(PermissionDenied):
        decide(session, world, clock, policy_engine)


def test_a_study_key_reused_for_another_study_is_a_conflict_not_a_replay(session, clock, policy_engine):
    from registry.services.errors import Conflict

    world = make_world(session, clock)
    decide(session, world, clock, policy_engine)
    with pytest.raises(Conflict):
        decide(session, world, clock, policy_engine, patient_pseudonym=PSEUDONYM)
    with pytest.raises(Conflict):
        decide(session, world, clock, policy_engine, study={"patient_age_years": 12})


def test_every_replay_is_audited(session, clock, policy_engine):
    world = make_world(session, clock)
    first = decide(session, world, clock, policy_engine)
    decide(session, world, clock, policy_engine)
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.object_id == first.decision.id)))
    assert sorted(e.event_type for e in entries) == ["decision", "decision-replay"]


def test_pseudonym_is_withheld_from_staff_without_need_to_know(session, clock, policy_engine):
    from registry.permissions import permissions_for_roles

    world = make_world(session, clock)
    outcome = decide(session, world, clock, policy_engine, patient_pseudonym=PSEUDONYM)
    viewer = Actor(kind="user", id="1", roles=("viewer",), permissions=permissions_for_roles(["viewer"]))
    privacy = Actor(kind="user", id="2", roles=("privacy_officer",),
                    permissions=permissions_for_roles(["privacy_officer"]))
    d = decisions.get_decision(session, actor=viewer, decision_id=outcome.decision.id)
    assert decisions.decision_detail(d, actor=viewer)["request"]["patient_pseudonym"] == "(withheld)"
    assert decisions.decision_detail(d, actor=privacy)["request"]["patient_pseudonym"] == PSEUDONYM
    assert decisions.decision_detail(d, actor=world.actor)["request"]["patient_pseudonym"] == PSEUDONYM


def test_hospital_staff_see_only_their_hospitals_decisions(session, clock, policy_engine):
    from registry.permissions import permissions_for_roles
    from registry.services.errors import NotFound

    world, other = make_world(session, clock), make_world(session, clock)
    outcome = decide(session, world, clock, policy_engine)
    perms = permissions_for_roles(["auditor"])
    own = Actor(kind="user", id="3", roles=("auditor",), permissions=perms, organisation_id=world.hospital.id)
    foreign = Actor(kind="user", id="4", roles=("auditor",), permissions=perms, organisation_id=other.hospital.id)
    national = Actor(kind="user", id="5", roles=("auditor",), permissions=perms)
    assert decisions.get_decision(session, actor=own, decision_id=outcome.decision.id)
    assert decisions.get_decision(session, actor=national, decision_id=outcome.decision.id)
    with pytest.raises(NotFound):
        decisions.get_decision(session, actor=foreign, decision_id=outcome.decision.id)
