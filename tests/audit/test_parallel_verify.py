"""Verification split over worker processes finds the same first break as a single pass."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from registry.audit import verify as verify_module
from registry.audit.chain import entry_hash, seal_all
from registry.db.audit import AuditEntry
from registry.db.base import make_session_factory
from registry.db.migrate import upgrade
from tests.audit.conftest import add_entries, verify


@pytest.fixture
def committed(fresh_engine, clock, signer, monkeypatch):
    """40 sealed, committed entries (worker processes read through their own connections)."""
    upgrade(fresh_engine)
    sessions = make_session_factory(fresh_engine)
    with sessions() as s:
        add_entries(s, clock, 40)
        seal_all(s, clock=clock, signer=signer, checkpoint_every=5)
        s.commit()
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", 0)
    return sessions


@pytest.mark.parametrize("tamper, seq, why", [
    (None, None, None),
    ("UPDATE audit_entries SET outcome = 'denied' WHERE seq = 27", 27, "content"),
    ("DELETE FROM audit_entries WHERE seq = 21", 21, "missing"),  # first of the second range
    # The last of the first range: that range's own walk must miss it, or the break would only
    # show at 21, where the second range no longer links.
    ("DELETE FROM audit_entries WHERE seq = 20", 20, "missing"),
    # A break in each range: the report names the earlier one, as a single pass would.
    ("UPDATE audit_entries SET outcome = 'denied' WHERE seq IN (12, 33)", 12, "content"),
])
def test_two_workers_agree_with_one(committed, fresh_engine, signer, tamper, seq, why):
    if tamper:
        with fresh_engine.begin() as conn:
            conn.execute(text(tamper))
    with committed() as s:
        single, parallel = verify(s, signer), verify(s, signer, workers=2)
    assert parallel.ok is single.ok is (tamper is None)
    if tamper:
        assert parallel.failure.seq == single.failure.seq == seq
        assert why in parallel.failure.reason and why in single.failure.reason
    else:
        assert (parallel.head_seq, parallel.head_hash) == (single.head_seq, single.head_hash)
        assert parallel.entries_checked == 40


def test_a_rehashed_rewrite_from_the_start_of_a_range_is_found_where_the_link_breaks(committed,
                                                                                     signer):
    """A forger gives entry 21 another predecessor and rehashes it and everything after it: the
    second range is consistent within itself, only joining it to the first shows the break."""
    with committed() as s:
        prev = "f" * 64
        for row in s.scalars(select(AuditEntry).where(AuditEntry.seq >= 21)
                             .order_by(AuditEntry.seq)):
            row.prev_hash = prev
            row.entry_hash = prev = entry_hash(row, row.seq, prev)
        s.commit()
    with committed() as s:
        single, parallel = verify(s, signer), verify(s, signer, workers=2)
    assert parallel.failure.seq == single.failure.seq == 21
    assert parallel.failure.reason == single.failure.reason


def test_entries_stored_out_of_seq_order_verify_in_seq_order(committed, fresh_engine, signer):
    """The chain runs in seal order, and ids need not follow it (on PostgreSQL a transaction
    holding a lower id can commit after a higher one is sealed). Give entries 3 and 22 the
    newest ids, so neither id order nor (on PostgreSQL) storage order is seq order."""
    with fresh_engine.begin() as conn:
        for seq in (3, 22):
            conn.execute(text("UPDATE audit_entries SET id = (SELECT max(id) + 1 FROM audit_entries)"
                              " WHERE seq = :seq"), {"seq": seq})
    with committed() as s:
        single, parallel = verify(s, signer), verify(s, signer, workers=2)
    assert single.ok, single.failure
    assert parallel.ok, parallel.failure
    assert single.entries_checked == parallel.entries_checked == 40


@pytest.mark.parametrize("tamper, seq", [
    (None, None),
    ("UPDATE audit_entries SET outcome = 'denied' WHERE seq = 33", 33),
])
def test_a_pruned_log_verifies_in_parallel_from_its_anchor(committed, fresh_engine, signer,
                                                           tamper, seq):
    """After pruning, the ranges start at the anchor checkpoint's seq, not at 1."""
    with fresh_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq <= 20"))  # up to the checkpoint at 20
        if tamper:
            conn.execute(text(tamper))
    with committed() as s:
        single, parallel = verify(s, signer), verify(s, signer, workers=2)
    assert parallel.ok is single.ok is (tamper is None)
    assert parallel.anchor_seq == single.anchor_seq == 20
    if tamper:
        assert parallel.failure.seq == single.failure.seq == seq
    else:
        assert (parallel.head_seq, parallel.head_hash) == (single.head_seq, single.head_hash)
        assert parallel.entries_checked == 20


class _RecordingPool:
    """Stands in for the process pool: records what each worker would be given, starts none."""

    def __init__(self, calls: list, max_workers=None, mp_context=None):
        self.calls = calls

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, *columns):
        self.calls.extend(zip(*columns))
        return []


@pytest.mark.parametrize("lo, last, workers", [(1, 40, 2), (1, 41, 2), (1, 40, 3), (21, 40, 2)])
def test_the_log_is_split_into_one_range_per_worker_that_join_without_gap(monkeypatch, lo, last,
                                                                         workers):
    """The ranges must tile ``lo..`` end to end (the last one open, for entries sealed meanwhile),
    one per worker asked for: never more processes than the operator allowed (``--workers``)
    and, for logs that divide as these do, no fewer."""
    url = "postgresql+psycopg://auditor:s3cret@db.example/registry"
    session = SimpleNamespace(get_bind=lambda: SimpleNamespace(url=make_url(url)))
    calls: list = []
    monkeypatch.setattr(verify_module, "ProcessPoolExecutor",
                        lambda *a, **kw: _RecordingPool(calls, *a, **kw))
    verify_module._walk_in_parallel(session, lo, last, frozenset({25}), workers)
    urls, los, his, pinned = zip(*calls)
    # The workers open their own connections: they need the password, not "***".
    assert set(urls) == {url}
    assert len(calls) == workers
    assert los[0] == lo and his[-1] is None
    assert [hi + 1 for hi in his[:-1]] == list(los[1:])
    assert set(pinned) == {frozenset({25})}


def test_verification_stays_in_this_process_unless_workers_are_asked_for(sealed, signer,
                                                                          monkeypatch):
    """The web and API edges verify inside a request: they must not start processes, however
    long the log."""
    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started")

    monkeypatch.setattr(verify_module, "PARALLEL_FROM", 0)
    monkeypatch.setattr(verify_module, "ProcessPoolExecutor", no_pool)
    assert verify(sealed, signer).ok


def test_workers_are_used_from_parallel_from_entries_on(sealed, signer, monkeypatch):
    """``workers`` > 1 spreads a log of at least ``PARALLEL_FROM`` entries after its start over
    processes, and a shorter log is walked here (starting processes costs more than it saves).
    The walk is recorded, not started: what matters is which path was taken."""
    taken: list = []

    def recording(session, lo, last, pinned, workers):
        taken.append((lo, last, workers))
        return [verify_module._walk(session.connection(), lo, None, pinned)]

    monkeypatch.setattr(verify_module, "_walk_in_parallel", recording)
    last = sealed.scalar(select(func.max(AuditEntry.seq)))
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", last - 1)  # exactly long enough
    report = verify(sealed, signer, workers=2)
    assert report.ok and report.entries_checked == last
    assert taken == [(1, last, 2)]
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", last)  # one entry short
    assert verify(sealed, signer, workers=2).ok
    assert len(taken) == 1
