"""What services/quota.reserve answers — (reserved, overage, the count after it) — and takes:
within the quota, past it with and without overage, without a limit, and with a quota of zero."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.db.contracts import QuotaCounter
from registry.domain.quota import Window
from registry.services import decisions, quota
from registry.services.quota import Taken
from tests.factories import child_hand, make_world

TERM = Window(date(2026, 1, 1), date(2026, 12, 31))


def _counter(session, licence_id):  # noqa: ANN001, ANN202
    return session.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == licence_id,
                                                          QuotaCounter.window_start == TERM.starts_on))


def _reserve(session, world, limit, allow_overage):  # noqa: ANN001, ANN202
    return quota.reserve(session, world.licence.id, TERM, limit, allow_overage)


def test_reserve_answers_what_it_took_within_past_and_without_a_limit(session, clock):
    # Exact tuples, not truthiness: callers unpack them, and a None for False is no answer.
    deny = make_world(session, clock)
    assert [_reserve(session, deny, 2, False) for _ in range(3)] == [
        Taken(True, False, 1), Taken(True, False, 2), Taken(False, False, None)]
    assert _counter(session, deny.licence.id) == 2  # the refused one took nothing

    overage = make_world(session, clock)
    assert [_reserve(session, overage, 1, True) for _ in range(3)] == [
        Taken(True, False, 1), Taken(True, True, 2), Taken(True, True, 3)]

    unlimited = make_world(session, clock)
    assert [_reserve(session, unlimited, None, False) for _ in range(2)] == [
        Taken(True, False, 1), Taken(True, False, 2)]


def test_a_quota_of_zero_has_no_unit_within_it_so_every_use_is_overage(session, clock, policy_engine):
    # The first reservation of a window inserts its counter, and an INSERT knows no "used < limit":
    # a quota of zero must not reach that statement, or its first use would pass as within quota.
    deny = make_world(session, clock)
    assert _reserve(session, deny, 0, False) == Taken(False, False, None)
    assert _counter(session, deny.licence.id) is None

    overage = make_world(session, clock)
    assert [_reserve(session, overage, 0, True) for _ in range(2)] == [Taken(True, True, 1), Taken(True, True, 2)]

    # Through a decision: a licence with a quota of zero and overage bills its first study as overage.
    w = make_world(session, clock, quota_limit=0, on_quota_exhausted="overage")
    outcome = decisions.decide(session, actor=w.actor, clock=clock, engine=policy_engine,
                               request=child_hand(w.tool.slug, study_key="z-1"))
    assert outcome.decision.outcome == "permit" and outcome.decision.overage is True
    assert {"code": "OVERAGE_BILLABLE"} in outcome.decision.obligations
