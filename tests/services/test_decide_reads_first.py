"""A decision that reads first (as POST /api/v1/decisions begins): on SQLite it reads and judges
without the write lock, takes the lock only for its writes, and decides again under the lock when
the terms or the study's permit moved in between.

Always on a SQLite file of its own: the split is what SQLite's single writer needs (PostgreSQL
has no database-wide write lock, and there the option changes nothing)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

from registry.actor import Actor
from registry.clock import FixedClock
from registry.db.base import READS_FIRST, READS_FIRST_OPTION, make_engine
from registry.db.migrate import upgrade
from registry.services import contracts, decisions
from tests.conftest import DEMO_NOW
from tests.factories import SYSTEM, child_hand, make_world


@pytest.fixture
def sqlite_world(tmp_path):
    path = tmp_path / "reads-first.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    with sessions() as s:
        world = make_world(s, FixedClock(DEMO_NOW))
        s.commit()
    yield engine, sessions, world, path
    engine.dispose()


def _decide(sessions, world, policy_engine, study_key="study-rf", *, reads_first=True):
    session = sessions()
    try:
        if reads_first:
            session.connection(execution_options=READS_FIRST)
        out = decisions.decide(session, actor=Actor.for_gateway(world.gateway, world.actor.permissions),
                               clock=FixedClock(DEMO_NOW), engine=policy_engine,
                               request=child_hand(world.tool.slug, study_key=study_key))
        session.commit()
        return out
    finally:
        session.close()


def _during_evaluation(monkeypatch, action):
    """Run ``action`` once, while the decision evaluates (its read phase)."""
    real, done, started = decisions._evaluate, [], []

    def evaluate(*args, **kwargs):
        if not started:  # once: the action may decide itself
            started.append(True)
            done.append(action())
        return real(*args, **kwargs)

    monkeypatch.setattr(decisions, "_evaluate", evaluate)
    return done


def _attempts(monkeypatch) -> list[bool]:
    """The ``apart`` flag of every attempt at deciding (a second attempt: decided again)."""
    real, seen = decisions._decide, []

    def attempt(session, **kwargs):
        seen.append(kwargs["apart"])
        return real(session, **kwargs)

    monkeypatch.setattr(decisions, "_decide", attempt)
    return seen


def _transactions(engine) -> list[str]:
    """The statements that begin and end transactions, as SQLite's own trace shows them: from
    the next connection taken from the pool on, whoever issues them (``begin_writing`` does, past SQLAlchemy's
    events)."""
    seen: list[str] = []

    def trace(sql: str) -> None:
        if sql.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(sql)

    event.listen(engine, "checkout", lambda dbapi_connection, *_: dbapi_connection.set_trace_callback(trace))
    return seen


def _other_writer_commits(path) -> str:
    """Another connection takes the write lock without waiting, writes and commits."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE terms_revision SET revision = revision WHERE id = 1")
        other.execute("COMMIT")
        return "committed"
    except sqlite3.OperationalError as exc:  # "database is locked": the decision holds the lock
        return str(exc)
    finally:
        other.close()


def test_a_decision_reads_without_the_write_lock_and_writes_under_it(sqlite_world, policy_engine, monkeypatch):
    engine, sessions, world, path = sqlite_world
    transactions = _transactions(engine)
    seen = _during_evaluation(monkeypatch, lambda: _other_writer_commits(path))
    attempts = _attempts(monkeypatch)
    out = _decide(sessions, world, policy_engine)
    assert out.decision.outcome == "permit"
    assert seen == ["committed"]  # another writer committed while this decision judged
    # One read transaction, then one write transaction, on the same connection.
    assert transactions == ["BEGIN", "COMMIT", "BEGIN IMMEDIATE", "COMMIT"]
    # What the other writer changed is not a term (the revision was set to itself): the read
    # still holds under the lock, and the decision is not made a second time.
    assert attempts == [True]


@pytest.mark.parametrize("reads_first", [True, False])
def test_a_retry_replays_its_permit_in_one_attempt_and_one_write(sqlite_world, policy_engine, monkeypatch,
                                                                  reads_first):
    """A gateway's retry of a permitted study: read first, it ends the read before writing the
    replay's audit entry under the lock; without reads-first it stays one transaction. Either
    way it is decided once (nothing moved in between). Broken by: the retry skipping the lock,
    calling it wrongly (a 500 on every retry), or comparing what it read with something else."""
    engine, sessions, world, _path = sqlite_world
    first = _decide(sessions, world, policy_engine, "retried", reads_first=reads_first)
    transactions = _transactions(engine)
    attempts = _attempts(monkeypatch)
    again = _decide(sessions, world, policy_engine, "retried", reads_first=reads_first)
    assert again.decision.outcome == "permit" and again.decision.id == first.decision.id
    assert attempts == [reads_first]
    assert transactions == (["BEGIN", "COMMIT", "BEGIN IMMEDIATE", "COMMIT"] if reads_first
                            else ["BEGIN IMMEDIATE", "COMMIT"])


def test_without_reads_first_the_lock_is_held_from_the_start(sqlite_world, policy_engine, monkeypatch):
    """The contrast (and what services called directly still do): the whole decision under the lock."""
    _engine, sessions, world, path = sqlite_world
    seen = _during_evaluation(monkeypatch, lambda: _other_writer_commits(path))
    assert _decide(sessions, world, policy_engine, reads_first=False).decision.outcome == "permit"
    assert seen and "locked" in seen[0]


def test_terms_changed_between_reading_and_writing_are_honoured(sqlite_world, policy_engine, monkeypatch):
    _engine, sessions, world, _path = sqlite_world

    def suspend_licence():  # another instance's change, committed during this decision's read
        with sessions() as s:
            contracts.set_licence_status(s, actor=SYSTEM, clock=FixedClock(DEMO_NOW),
                                         licence_id=world.licence.id, status="suspended", reason="audit")
            s.commit()
        return "suspended"

    _during_evaluation(monkeypatch, suspend_licence)
    out = _decide(sessions, world, policy_engine)
    assert out.decision.outcome == "deny"  # decided again, under the lock, on the new terms
    assert [r["code"] for r in out.decision.reasons] == ["LICENCE_NOT_IN_FORCE"]


def test_a_permit_stored_between_reading_and_writing_is_replayed(sqlite_world, policy_engine, monkeypatch):
    _engine, sessions, world, _path = sqlite_world
    first = []
    _during_evaluation(monkeypatch, lambda: first.append(
        _decide(sessions, world, policy_engine, "same-study", reads_first=False)))
    attempts = _attempts(monkeypatch)
    out = _decide(sessions, world, policy_engine, "same-study")
    assert out.decision.outcome == "permit" and out.decision.id == first[0].decision.id
    # Seen under the lock (the re-read asks for this study's permit), so decided again there:
    # the read attempt, the other request's own, and the second attempt that replays. Not by
    # reserving a unit and handing it back when the insert collides.
    assert attempts == [True, False, False]


def test_a_locked_database_at_begin_is_sqlalchemys_operational_error(tmp_path):
    """What the edges answer with a 503: the BEGIN's own error, wrapped as SQLAlchemy's."""
    import sqlalchemy.exc

    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    upgrade(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError, match="locked"):
            with engine.begin() as conn:
                conn.exec_driver_sql("SELECT 1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with engine.begin() as conn:  # the queue's lock was given back: the next writer goes on
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()
