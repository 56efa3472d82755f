"""Concurrent gateways against one licence: exactly Q permits, never more, on SQLite and
PostgreSQL. Each thread has its own session and commits, as separate requests would."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from registry.actor import Actor
from registry.clock import FixedClock
from registry.db.base import READS_FIRST
from registry.db.contracts import QuotaCounter
from registry.db.decisions import Decision
from registry.db.migrate import upgrade
from registry.services import decisions
from tests.conftest import DEMO_NOW
from tests.factories import child_hand, make_world

THREADS = 8
PER_THREAD = 12
QUOTA = 37


def _world(engine, **kw):
    upgrade(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    with sessions() as s:
        world = make_world(s, FixedClock(DEMO_NOW), **kw)
        s.commit()
    return sessions, world


def _run(sessions, world, engine_policy, keys_for_thread, reads_first=False):
    results: list[tuple[str, str, list[str]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        actor = Actor.for_gateway(world.gateway, world.actor.permissions)
        clock = FixedClock(DEMO_NOW)
        barrier.wait()
        for key in keys_for_thread(n):
            session = sessions()
            try:
                if reads_first:  # as POST /api/v1/decisions begins (SQLite: no write lock while reading)
                    session.connection(execution_options=READS_FIRST)
                out = decisions.decide(session, actor=actor, clock=clock, engine=engine_policy,
                                       request=child_hand(world.tool.slug, study={"study_key": key}))
                session.commit()
                with lock:
                    results.append((out.decision.id, out.decision.outcome,
                                    [r["code"] for r in out.decision.reasons]))
            except BaseException as exc:  # noqa: BLE001 - reported below
                session.rollback()
                with lock:
                    errors.append(exc)
            finally:
                session.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    return results


# Both ways a decision's transaction begins: all under the write lock (services called directly),
# and reading first without it (the API's decisions; on SQLite the read ends before the writes).
BEGINS = pytest.mark.parametrize("reads_first", [False, True], ids=["locked", "reads-first"])


@BEGINS
def test_exactly_quota_permits_under_concurrency(fresh_engine, policy_engine, reads_first):
    sessions, world = _world(fresh_engine, quota_limit=QUOTA)
    results = _run(sessions, world, policy_engine,
                   lambda n: [f"t{n}-s{i}" for i in range(PER_THREAD)], reads_first)
    outcomes = Counter(outcome for _, outcome, _ in results)
    assert len(results) == THREADS * PER_THREAD
    assert outcomes["permit"] == QUOTA
    assert outcomes["deny"] == THREADS * PER_THREAD - QUOTA
    assert all(codes == ["QUOTA_EXHAUSTED"] for _, outcome, codes in results if outcome == "deny")
    with sessions() as s:
        assert s.scalar(select(QuotaCounter.used)) == QUOTA
        assert s.scalar(select(func.count()).select_from(Decision)
                        .where(Decision.reservation == "reserved")) == QUOTA


@BEGINS
def test_concurrent_retries_of_one_study_share_one_permit(fresh_engine, policy_engine, reads_first):
    sessions, world = _world(fresh_engine, quota_limit=QUOTA)
    results = _run(sessions, world, policy_engine, lambda n: ["same-study"] * 3, reads_first)
    ids = {decision_id for decision_id, _, _ in results}
    assert len(results) == THREADS * 3
    assert len(ids) == 1
    assert {outcome for _, outcome, _ in results} == {"permit"}
    with sessions() as s:
        assert s.scalar(select(QuotaCounter.used)) == 1
