"""Many writers, concurrent sealers, one unbroken chain (real commits on a database of its own)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from registry.actor import Actor
from registry.audit.chain import seal_all, seal_pending
from registry.clock import FixedClock
from registry.db.audit import AuditEntry
from registry.db.base import make_session_factory
from registry.db.migrate import upgrade
from registry.services import decisions, organisations
from tests.audit.conftest import add_entries, verify
from tests.conftest import DEMO_NOW
from tests.factories import child_hand, make_world

WRITERS, DECISIONS_EACH = 6, 12


@pytest.fixture
def sessions_of(fresh_engine):
    upgrade(fresh_engine)
    return make_session_factory(fresh_engine)


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a thread hung"


def test_writers_and_two_sealers_make_one_unbroken_chain(sessions_of, policy_engine, signer):
    clock = FixedClock(DEMO_NOW)
    with sessions_of() as setup:
        world = make_world(setup, clock, quota_limit=None)
        setup.commit()
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()

    def writer(n: int) -> None:
        try:
            for i in range(DECISIONS_EACH):
                with sessions_of() as s:
                    decisions.decide(s, actor=world.actor, clock=clock, engine=policy_engine,
                                     request=child_hand(world.tool.slug, study_key=f"w{n}-{i}",
                                                        dry_run=i % 3 == 0))
                    if i % 4 == 0:  # a change record (and its entry) in between
                        organisations.create_organisation(
                            s, actor=Actor.system("writer"), clock=clock, kind="vendor",
                            name=f"Vendor {n}-{i}")
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def sealer() -> None:
        try:
            while writing.is_set():
                with sessions_of() as s:
                    seal_pending(s, clock=clock, signer=signer, batch=7, checkpoint_every=10)
                    s.commit()
                time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for t in sealers:
        t.start()
    _run(writers)
    writing.clear()
    for t in sealers:
        t.join(timeout=60)
    assert errors == []

    with sessions_of() as s:
        seal_all(s, clock=clock, signer=signer, checkpoint_every=10)
        s.commit()
        rows = s.execute(select(AuditEntry.seq, AuditEntry.prev_hash, AuditEntry.entry_hash)
                         .order_by(AuditEntry.seq)).all()
        total = s.scalar(select(func.count()).select_from(AuditEntry))
        report = verify(s, signer)
    # Every decision and change wrote exactly one entry, and each got exactly one place.
    assert total >= WRITERS * DECISIONS_EACH
    assert [r.seq for r in rows] == list(range(1, total + 1))
    assert all(b.prev_hash == a.entry_hash for a, b in zip(rows, rows[1:]))
    assert report.ok, report.failure
    assert report.entries_checked == total and report.checkpoints_checked >= total // 10


def test_a_second_sealer_waits_for_the_first(sessions_of, signer):
    """The sequencer lock is exclusive across connections (advisory lock on PostgreSQL, the
    write lock on SQLite): the second sealer continues from the first one's head."""
    clock = FixedClock(DEMO_NOW)
    with sessions_of() as s:
        add_entries(s, clock, 5)
        s.commit()
    first = sessions_of()
    assert seal_pending(first, clock=clock).head_seq == 5
    done: dict[str, int] = {}

    def second() -> None:
        with sessions_of() as s:
            done["head"] = seal_pending(s, clock=clock).head_seq
            s.commit()

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    assert "head" not in done, "the second sealer ran while the first held the lock"
    with sessions_of() as s:  # a writer is not blocked by the sealer on PostgreSQL
        if s.get_bind().dialect.name == "postgresql":
            add_entries(s, clock, 2)
            s.commit()
    first.commit()
    first.close()
    thread.join(timeout=30)
    with sessions_of() as s:
        report = verify(s, signer)
        assert report.ok, report.failure
        assert s.scalar(select(func.count()).where(AuditEntry.sealed.is_(False))) == 0
    assert done["head"] == report.head_seq
