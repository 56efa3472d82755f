"""A retried study (``decide`` with a study key already permitted): the stored permit comes back
with its quota as it stands now, the replay is an audit entry of its own (NEN 7513), and a key
reused for another request is a conflict, not a replay."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from registry.clock import FixedClock
from registry.db.audit import AuditEntry
from registry.services import decisions
from registry.services.errors import Conflict
from tests.factories import child_hand, make_world


def _decide(session, clock, policy_engine, world, **kw):
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, **kw))


def _replays(session, decision_id):
    return session.scalars(select(AuditEntry).where(AuditEntry.event_type == "decision-replay",
                                                    AuditEntry.object_id == decision_id)).all()


def test_a_replay_is_an_audit_entry_of_its_own(session, clock, policy_engine):
    world = make_world(session, clock)
    first = _decide(session, clock, policy_engine, world, study_key="r-1")
    later = FixedClock(datetime(2026, 6, 1, 10, 5, tzinfo=timezone.utc))
    again = _decide(session, later, policy_engine, world, study_key="r-1")
    assert again.replayed and again.decision.id == first.decision.id
    [entry] = _replays(session, first.decision.id)
    assert (entry.action_code, entry.outcome, entry.object_type) == ("E", "success", "decision")
    assert entry.actor == world.actor.ref and entry.purpose_of_use == "clinical-care"
    at = entry.recorded_at
    assert (at if at.tzinfo else at.replace(tzinfo=timezone.utc)) == later.now()
    assert entry.detail == {"replay_of": first.decision.id,
                            "decided_at": first.decision.decided_at.isoformat()}


def test_a_replay_reports_the_quota_as_it_stands_now(session, clock, policy_engine):
    """The window of the stored permit (a monthly quota: June), counted now: the permit's own
    unit and those taken after it."""
    world = make_world(session, clock, quota_limit=3, quota_period="month")
    first = _decide(session, clock, policy_engine, world, study_key="q-1")
    _decide(session, clock, policy_engine, world, study_key="q-2")
    again = _decide(session, clock, policy_engine, world, study_key="q-1")
    assert again.replayed and again.decision.id == first.decision.id
    assert again.quota == {"limit": 3, "used": 2, "remaining": 1,
                           "period_start": "2026-06-01", "period_end": "2026-06-30"}
    assert decisions.decision_view(again)["replayed"] is True


def test_a_replay_past_the_limit_reports_none_remaining(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1, on_quota_exhausted="overage")
    first = _decide(session, clock, policy_engine, world, study_key="o-1")
    _decide(session, clock, policy_engine, world, study_key="o-2")  # overage
    again = _decide(session, clock, policy_engine, world, study_key="o-1")
    assert again.decision.id == first.decision.id
    assert (again.quota["used"], again.quota["remaining"]) == (2, 0)


def test_a_replay_without_a_quota_limit_reports_no_quota(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=None)
    first = _decide(session, clock, policy_engine, world, study_key="n-1")
    again = _decide(session, clock, policy_engine, world, study_key="n-1")
    assert again.replayed and again.decision.id == first.decision.id and again.quota is None


@pytest.mark.parametrize("change", [{"patient_pseudonym": "ef" * 32}, {"study": {"patient_age_years": 12}}])
def test_a_key_reused_for_another_request_names_the_study_key(session, clock, policy_engine, change):
    world = make_world(session, clock)
    first = _decide(session, clock, policy_engine, world, study_key="c-1")
    with pytest.raises(Conflict) as conflict:
        _decide(session, clock, policy_engine, world, study_key="c-1",
                **{k: ({"study_key": "c-1", **v} if k == "study" else v) for k, v in change.items()})
    assert set(conflict.value.fields) == {"study.study_key"}
    assert isinstance(conflict.value.detail, str) and conflict.value.detail
    assert _replays(session, first.decision.id) == []


def test_a_retry_after_the_last_unit_is_still_the_replay(session, clock, policy_engine):
    """The study's own permit took the last unit: its retry is answered with that permit, not
    judged again (which would find no unit left and deny)."""
    world = make_world(session, clock, quota_limit=1)
    first = _decide(session, clock, policy_engine, world, study_key="l-1")
    again = _decide(session, clock, policy_engine, world, study_key="l-1")
    assert again.replayed and again.decision.id == first.decision.id
    assert again.decision.outcome == "permit" and again.quota["used"] == 1
