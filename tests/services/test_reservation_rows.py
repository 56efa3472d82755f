"""What a decision stores about its unit. A permit: the unit reserved, under its licence and
quota window, with its idempotency key. A deny: no unit taken, nothing billable, no licence or
quota window recorded, on both ways to a deny (the policies refuse at once, or the reservation
finds no unit left); and a dry run likewise."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.db.decisions import Decision
from registry.services import decisions
from tests.factories import child_hand, make_world


def _decide(session, clock, policy_engine, world, key, **kw):
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, study_key=key, **kw))


def _stored(session, outcome):
    session.expire_all()
    return session.scalar(select(Decision).where(Decision.id == outcome.decision.id))


def _assert_nothing_taken(row):
    assert row.outcome == "deny" and row.reservation == "none"
    assert row.overage is False and row.obligations == []
    assert row.licence_id is None and row.quota_window_start is None and row.idempotency_key is None


def test_a_deny_by_the_policies_takes_nothing(session, clock, policy_engine):
    world = make_world(session, clock, agreement_status="in_review", on_quota_exhausted="overage")
    outcome = _decide(session, clock, policy_engine, world, "p-1")
    assert [r["code"] for r in outcome.decision.reasons] == ["AGREEMENT_NOT_SIGNED"]
    _assert_nothing_taken(_stored(session, outcome))


def test_a_deny_when_no_unit_is_left_takes_nothing(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1)
    assert _decide(session, clock, policy_engine, world, "u-1").decision.outcome == "permit"
    outcome = _decide(session, clock, policy_engine, world, "u-2")
    assert [r["code"] for r in outcome.decision.reasons] == ["QUOTA_EXHAUSTED"]
    _assert_nothing_taken(_stored(session, outcome))
    assert outcome.quota["used"] == 1


def test_a_permitted_dry_run_takes_nothing(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1, on_quota_exhausted="overage")
    _decide(session, clock, policy_engine, world, "y-1")
    outcome = _decide(session, clock, policy_engine, world, "y-2", dry_run=True)  # would be overage
    row = _stored(session, outcome)
    assert row.outcome == "permit" and row.dry_run is True and row.reservation == "none"
    assert row.overage is False and row.obligations == [] and row.idempotency_key is None
    assert row.licence_id is None and row.quota_window_start is None


def test_a_permit_stores_its_unit_under_its_licence_and_window(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=5, quota_period="month")
    outcome = _decide(session, clock, policy_engine, world, "r-1")
    row = _stored(session, outcome)
    assert row.outcome == "permit" and row.reservation == "reserved" and row.overage is False
    assert row.licence_id == world.licence.id and row.quota_window_start == date(2026, 6, 1)
    assert row.obligations == [{"code": "REPORT_USAGE"}]
    assert row.idempotency_key == decisions.idempotency_key(world.hospital.id, world.tool.slug,
                                                            "clinical-care", "r-1")
