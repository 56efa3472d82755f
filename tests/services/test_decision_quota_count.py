"""The quota count on the decision path: a permit learns it from its own reservation (one
statement fewer), and every answer and stored fact still carries the exact count."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from registry.policy.engine import POLICY_DIR, PolicyEngine
from registry.services import decisions
from tests.factories import child_hand, make_world


def _decide(session, world, clock, engine, key, **kw):
    return decisions.decide(session, actor=world.actor, clock=clock, engine=engine,
                            request=child_hand(world.tool.slug, study_key=key, **kw))


def _remaining(outcome):
    return outcome.decision.facts["licence"]["quota_remaining"]


class _Statements:
    def __init__(self, engine):
        self.engine, self.sql = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.sql

    def __exit__(self, *exc):  # noqa: ANN002
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, *args):  # noqa: ANN001, ANN002
        self.sql.append(statement)


def test_a_permit_takes_its_unit_without_reading_the_count_first(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=5)
    _decide(session, world, clock, policy_engine, "warm")  # terms into memory
    with _Statements(session.get_bind()) as sql:
        outcome = _decide(session, world, clock, policy_engine, "q-1")
    assert outcome.decision.outcome == "permit"
    assert not [s for s in sql if s.lstrip().upper().startswith("SELECT") and "quota_counters" in s]
    assert [s for s in sql if "quota_counters" in s and "RETURNING" in s.upper()]


def test_every_permit_stores_the_exact_count_it_was_judged_on(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=3)
    answers = [_decide(session, world, clock, policy_engine, f"q-{n}") for n in range(3)]
    assert [_remaining(a) for a in answers] == [3, 2, 1]
    assert [a.quota["used"] for a in answers] == [1, 2, 3]
    assert [a.quota["remaining"] for a in answers] == [2, 1, 0]
    denied = _decide(session, world, clock, policy_engine, "q-3")
    assert denied.decision.outcome == "deny"
    assert [r["code"] for r in denied.decision.reasons] == ["QUOTA_EXHAUSTED"]
    assert _remaining(denied) == 0 and denied.quota["used"] == 3


def test_past_the_limit_an_overage_permit_is_judged_on_the_true_count(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1, on_quota_exhausted="overage")
    first = _decide(session, world, clock, policy_engine, "o-1")
    second = _decide(session, world, clock, policy_engine, "o-2")
    assert (first.decision.outcome, second.decision.outcome) == ("permit", "permit")
    assert (first.decision.overage, second.decision.overage) == (False, True)
    assert _remaining(first) == 1 and _remaining(second) == 0
    assert {"code": "OVERAGE_BILLABLE"} in second.decision.obligations
    assert second.quota["used"] == 2 and second.quota["remaining"] == 0


def test_a_dry_run_reports_the_count_without_taking_a_unit(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=2)
    _decide(session, world, clock, policy_engine, "d-1")
    dry = _decide(session, world, clock, policy_engine, "d-2", dry_run=True)
    assert dry.decision.outcome == "permit" and _remaining(dry) == 1 and dry.quota["used"] == 1
    _decide(session, world, clock, policy_engine, "d-3")
    dry = _decide(session, world, clock, policy_engine, "d-4", dry_run=True)
    assert dry.decision.outcome == "deny" and _remaining(dry) == 0


def test_policies_that_read_the_count_otherwise_are_judged_on_the_count_read_first(
        session, clock, tmp_path: Path):
    """With a threshold other than zero (a policy file a consortium might write), the count is
    read before Cedar judges: the fourth study of a quota of five is refused, not permitted."""
    for path in POLICY_DIR.glob("*.cedar*"):
        (tmp_path / path.name).write_text(path.read_text().replace("quota_remaining > 0", "quota_remaining > 2"))
    engine = PolicyEngine.load(tmp_path)
    assert not engine.quota_only_compared_to_zero
    world = make_world(session, clock, quota_limit=5)
    outcomes = [_decide(session, world, clock, engine, f"t-{n}").decision.outcome for n in range(4)]
    assert outcomes == ["permit", "permit", "permit", "deny"]


@pytest.mark.parametrize("limit", [None, 0])
def test_no_quota_and_a_zero_quota_keep_their_answers(session, clock, policy_engine, limit):
    world = make_world(session, clock, quota_limit=limit)
    outcome = _decide(session, world, clock, policy_engine, "z-1")
    assert outcome.decision.outcome == ("permit" if limit is None else "deny")
    assert outcome.quota == (None if limit is None else {
        "limit": 0, "used": 0, "remaining": 0, "period_start": "2026-01-01", "period_end": "2026-12-31"})


def test_when_the_true_count_changes_the_verdict_the_unit_is_given_back(session, clock, tmp_path: Path):
    """Policies that ask only "any left?" but refuse overage once none is (a consortium's own
    rule): the study past the limit was judged "some left" before the reservation said otherwise;
    judged again on the true count it is denied and the unit it took is given back."""
    from registry.db.contracts import QuotaCounter
    from sqlalchemy import select

    for path in POLICY_DIR.glob("*.cedar*"):
        (tmp_path / path.name).write_text(path.read_text().replace(
            "   context.licence.overage_allowed)",
            "   (context.licence.overage_allowed && context.licence.quota_remaining > 0))"))
    engine = PolicyEngine.load(tmp_path)
    assert engine.quota_only_compared_to_zero
    world = make_world(session, clock, quota_limit=1, on_quota_exhausted="overage")
    assert _decide(session, world, clock, engine, "g-1").decision.outcome == "permit"
    second = _decide(session, world, clock, engine, "g-2")
    assert second.decision.outcome == "deny" and second.decision.reservation == "none"
    assert _remaining(second) == 0
    assert session.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == world.licence.id)) == 1
