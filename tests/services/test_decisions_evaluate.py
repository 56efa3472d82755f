"""Time travel (``decisions.evaluate_at``) at the service level: who evaluates for which hospital,
the refusals, and what an evaluation stores. The HTTP suites cover the same through the API;
these run in the rule-level suites (and so in the mutation run)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from registry.actor import Actor, PermissionDenied
from registry.db.audit import AuditEntry
from registry.db.decisions import Decision
from registry.permissions import Permission, permissions_for_roles
from registry.schemas import EvaluateIn
from registry.services import decisions, organisations
from registry.services.errors import ValidationFailed
from registry.services.gateways import set_gateway_status
from tests.factories import SYSTEM, child_hand, make_world


def _request(world, at, **kw):
    body = child_hand(world.tool.slug).model_dump()
    return EvaluateIn.model_validate(dict(body, at=at, **kw))


def _evaluate(session, clock, policy_engine, actor, request):
    return decisions.evaluate_at(session, actor=actor, clock=clock, engine=policy_engine, request=request)


def _decisions(session):
    return session.scalar(select(func.count()).select_from(Decision))


def _codes(outcome):
    return [r["code"] for r in outcome.decision.reasons]


def _staff(role="legal"):
    return Actor(kind="user", id="staff-1", roles=(role,), permissions=permissions_for_roles([role]))


def test_a_gateway_evaluates_for_its_own_hospital_on_the_day_asked(session, clock, policy_engine):
    world = make_world(session, clock, agreement_term=(date(2026, 1, 1), date(2026, 9, 30)))
    make_world(session, clock)  # another hospital, with a licence of its own for another tool
    for at, expected, codes in (("2026-09-30", "permit", []),
                                ("2026-10-01", "deny", ["AGREEMENT_NOT_IN_FORCE"])):
        outcome = _evaluate(session, clock, policy_engine, world.actor, _request(world, at))
        assert (outcome.decision.outcome, _codes(outcome)) == (expected, codes)
        session.expire_all()
        stored = session.get(Decision, outcome.decision.id)
        assert stored.kind == "evaluate" and stored.evaluated_on == date.fromisoformat(at)
        assert stored.hospital_id == world.hospital.id and stored.gateway_id == world.gateway.id
        assert stored.actor == world.actor.ref
        assert stored.reservation == "none" and stored.dry_run is True
        assert stored.licence_id is None and stored.quota_window_start is None
        assert stored.obligations == [] and stored.overage is False
        entry = session.scalar(select(AuditEntry).where(AuditEntry.object_id == stored.id))
        assert entry.event_type == "evaluation"
        assert {"type": "gateways", "id": str(world.gateway.id)} in entry.objects
        assert {"type": "organisations", "id": str(world.hospital.id)} in entry.objects
    assert outcome.quota["used"] == 0  # nothing reserved by either evaluation


def test_a_suspended_gateway_is_judged_with_its_own_status(session, clock, policy_engine):
    """The gateway's own row is in the facts: staff evaluate without one, a gateway with its own."""
    world = make_world(session, clock)
    set_gateway_status(session, actor=SYSTEM, clock=clock, client_id=world.gateway.client_id,
                       status="suspended")
    outcome = _evaluate(session, clock, policy_engine, world.actor, _request(world, "2026-06-01"))
    assert outcome.decision.outcome == "deny"
    assert _codes(outcome) == ["GATEWAY_INACTIVE"]
    # Staff evaluating for the same hospital are not a gateway: no gateway in their facts.
    staff = _evaluate(session, clock, policy_engine, _staff(),
                      _request(world, "2026-06-01", hospital_ura=world.hospital.ura))
    assert staff.decision.outcome == "permit" and staff.decision.gateway_id is None


@pytest.mark.parametrize("ura", ["own", "other"])
def test_a_gateway_may_not_name_a_hospital(session, clock, policy_engine, ura):
    world, other = make_world(session, clock), make_world(session, clock)
    named = world.hospital.ura if ura == "own" else other.hospital.ura
    before = _decisions(session)
    with pytest.raises(ValidationFailed) as refused:
        _evaluate(session, clock, policy_engine, world.actor, _request(world, "2026-06-01", hospital_ura=named))
    assert set(refused.value.fields) == {"hospital_ura"}
    assert isinstance(refused.value.detail, str) and refused.value.detail
    assert _decisions(session) == before


def test_a_gateway_needs_routing_decide_to_evaluate(session, clock, policy_engine):
    world = make_world(session, clock)
    usage_only = Actor.for_gateway(world.gateway, frozenset({Permission.USAGE_REPORT}))
    with pytest.raises(PermissionDenied):
        _evaluate(session, clock, policy_engine, usage_only, _request(world, "2026-06-01"))
    # decisions:evaluate is a staff permission: it does not stand in for routing:decide.
    evaluator = Actor.for_gateway(world.gateway, frozenset({Permission.DECISIONS_EVALUATE}))
    with pytest.raises(PermissionDenied):
        _evaluate(session, clock, policy_engine, evaluator, _request(world, "2026-06-01"))


def test_staff_must_name_the_hospital(session, clock, policy_engine):
    world = make_world(session, clock)
    before = _decisions(session)
    with pytest.raises(ValidationFailed) as refused:
        _evaluate(session, clock, policy_engine, _staff(), _request(world, "2026-06-01"))
    assert set(refused.value.fields) == {"hospital_ura"}
    assert isinstance(refused.value.detail, str) and refused.value.detail
    assert _decisions(session) == before


def test_staff_naming_no_hospital_s_ura_are_refused(session, clock, policy_engine):
    """An unknown URA, and the URA of an organisation that is not a hospital (URAs are unique
    over all organisations), are both "unknown hospital"."""
    world = make_world(session, clock)
    operator_ura = "79999999"
    organisations.update_organisation(session, actor=SYSTEM, clock=clock,
                                      organisation_id=world.operator.id, changes={"ura": operator_ura})
    session.flush()
    before = _decisions(session)
    for ura in ("99999999", operator_ura):
        with pytest.raises(ValidationFailed) as refused:
            _evaluate(session, clock, policy_engine, _staff(), _request(world, "2026-06-01", hospital_ura=ura))
        assert set(refused.value.fields) == {"hospital_ura"}
        assert isinstance(refused.value.detail, str) and refused.value.detail
    assert _decisions(session) == before


def test_staff_need_decisions_evaluate(session, clock, policy_engine):
    world = make_world(session, clock)
    with pytest.raises(PermissionDenied):
        _evaluate(session, clock, policy_engine, _staff("viewer"),
                  _request(world, "2026-06-01", hospital_ura=world.hospital.ura))


def test_staff_evaluate_for_the_hospital_named_on_a_day_where_the_terms_differ(session, clock,
                                                                                policy_engine):
    world = make_world(session, clock, licence_term=(date(2026, 3, 1), date(2026, 12, 31)))
    other = make_world(session, clock)
    for at, expected, codes in (("2026-02-28", "deny", ["LICENCE_NOT_IN_FORCE"]),
                                ("2026-03-01", "permit", [])):
        outcome = _evaluate(session, clock, policy_engine, _staff(),
                            _request(world, at, hospital_ura=world.hospital.ura))
        assert (outcome.decision.outcome, _codes(outcome)) == (expected, codes)
        assert outcome.decision.hospital_id == world.hospital.id and outcome.decision.gateway_id is None
        assert outcome.decision.actor == "user:staff-1"
        # The request is stored as a gateway would send it: the day and the hospital are columns.
        assert outcome.decision.request == child_hand(world.tool.slug).model_dump(mode="json") | {"dry_run": True}
    # The other hospital has no licence for this tool (nor an agreement with its operator).
    outcome = _evaluate(session, clock, policy_engine, _staff(),
                        _request(world, "2026-06-01", hospital_ura=other.hospital.ura))
    assert "NO_LICENCE" in _codes(outcome) and outcome.decision.hospital_id == other.hospital.id


def test_an_evaluation_past_the_limit_bills_nothing(session, clock, policy_engine):
    """With the quota used up and overage allowed, a decision would permit as billable overage;
    an evaluation permits too, but reserves nothing, carries no obligation, and is no overage."""
    world = make_world(session, clock, quota_limit=0, on_quota_exhausted="overage")
    outcome = _evaluate(session, clock, policy_engine, world.actor, _request(world, "2026-06-01"))
    assert outcome.decision.outcome == "permit"
    session.expire_all()
    stored = session.get(Decision, outcome.decision.id)
    assert stored.overage is False and stored.obligations == [] and stored.reservation == "none"
    assert outcome.quota == {"limit": 0, "used": 0, "remaining": 0,
                             "period_start": "2026-01-01", "period_end": "2026-12-31"}


def test_an_evaluation_counts_the_units_already_used(session, clock, policy_engine):
    """An evaluation reserves nothing, so it must read the count itself: with the one unit of a
    limit of one taken by a decision, the evaluation is judged on that count (kills the
    snapshot's ``read_quota`` defaulting to "some left")."""
    world = make_world(session, clock, quota_limit=1)
    taken = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                             request=child_hand(world.tool.slug, study_key="taken"))
    assert taken.decision.outcome == "permit"
    outcome = _evaluate(session, clock, policy_engine, world.actor, _request(world, "2026-06-01"))
    assert (outcome.decision.outcome, _codes(outcome)) == ("deny", ["QUOTA_EXHAUSTED"])
    assert outcome.decision.facts["licence"]["quota_remaining"] == 0
    assert outcome.quota["used"] == 1 and outcome.quota["remaining"] == 0


def test_an_evaluation_counts_the_units_of_the_month_of_its_day(session, clock, policy_engine):
    """A monthly quota: a unit taken today counts on a day of this month, not of the next."""
    world = make_world(session, clock, quota_limit=1, quota_period="month")
    decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                     request=child_hand(world.tool.slug, study_key="this-month"))
    today = clock.now().date()
    this_month = _evaluate(session, clock, policy_engine, world.actor, _request(world, today.isoformat()))
    assert _codes(this_month) == ["QUOTA_EXHAUSTED"] and this_month.quota["used"] == 1
    next_month = _evaluate(session, clock, policy_engine, world.actor,
                           _request(world, today.replace(month=today.month + 1, day=1).isoformat()))
    assert next_month.decision.outcome == "permit" and next_month.quota["used"] == 0
