"""Concurrent reports on a database of its own (real commits): each decision is finalised once,
whatever the interleaving of gateways, instances and the expiry sweep."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from registry.actor import Actor
from registry.clock import FixedClock
from registry.db.base import make_session_factory
from registry.db.contracts import QuotaCounter
from registry.db.decisions import Decision, UsageEvent
from registry.db.migrate import upgrade
from registry.services import decisions, usage
from tests.conftest import DEMO_NOW
from tests.factories import child_hand, make_world

STUDIES, REPORTERS = 12, 4


def test_concurrent_conflicting_reports_finalise_each_decision_once(fresh_engine, policy_engine):
    upgrade(fresh_engine)
    sessions = make_session_factory(fresh_engine)
    clock = FixedClock(DEMO_NOW)
    with sessions() as s:
        world = make_world(s, clock)
        s.commit()
        ids = [decisions.decide(s, actor=world.actor, clock=clock, engine=policy_engine,
                                request=child_hand(world.tool.slug, f"s{i}")).decision.id
               for i in range(STUDIES)]
        s.commit()
    results: list[usage.UsageReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(REPORTERS + 1)

    def reporter(n: int) -> None:
        # Reporter n says "completed" when n is even, "failed" when odd, each with its own ids;
        # the last one is the expiry sweep racing them with a zero window.
        try:
            start.wait(timeout=30)
            with sessions() as s:
                if n == REPORTERS - 1:
                    usage.expire_reservations(s, actor=Actor.system("sweep"), clock=clock,
                                              window_seconds=0)
                else:
                    outcome = "completed" if n % 2 == 0 else "failed"
                    results.append(usage.report_usage(s, actor=world.actor, clock=clock, events=[
                        {"event_id": f"r{n}-{d}", "decision_id": d, "outcome": outcome,
                         "occurred_at": "2026-06-01T10:00:00Z"} for d in ids]))
                s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reporter, args=(n,)) for n in range(REPORTERS)]
    for t in threads:
        t.start()
    start.wait(timeout=30)
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert errors == []
    with sessions() as s:
        states = dict(s.execute(select(Decision.id, Decision.reservation).where(Decision.id.in_(ids))).all())
        events = s.scalar(select(func.count()).select_from(UsageEvent))
        used = s.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == world.licence.id))
    assert set(states.values()) <= {"confirmed", "released", "expired"}
    # Every decision ends final; at most one usage event each (expired ones may get a late one).
    assert events <= STUDIES
    assert used == sum(1 for v in states.values() if v == "confirmed")
    # What the reporters were told adds up to what is stored.
    assert sum(r.accepted for r in results) == events
