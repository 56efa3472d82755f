"""``begin_writing``: a transaction begun as a read (SQLite, READS_FIRST) ends its read and begins
writing on the same connection, holding SQLite's write lock (and the writers' queue) from then
until its commit or rollback, and never longer. Always on a SQLite file of its own."""

from __future__ import annotations

import fcntl
import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from registry.db.base import READS_FIRST, begin_writing, make_engine, reads_first


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / "writing.db"
    engine = make_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine, sessionmaker(bind=engine), path
    engine.dispose()


def _other_writer(path) -> str:
    """Another connection takes SQLite's write lock without waiting, writes and commits."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (99)")
        other.execute("COMMIT")
        return "committed"
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        other.close()


def _queue_free(path) -> bool:
    """Whether the writers' queue (a flock beside the database) is free for another writer."""
    with open(f"{path}-writer.lock", "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


def _count(path) -> int:
    with sqlite3.connect(path) as other:
        return other.execute("SELECT count(*) FROM t").fetchone()[0]


def test_the_read_holds_no_lock_the_write_holds_it_until_the_commit(sqlite_file):
    engine, sessions, path = sqlite_file
    with sessions() as session:
        conn = session.connection(execution_options=READS_FIRST)
        assert reads_first(conn)
        assert _other_writer(path) == "committed"  # reading: others write meanwhile
        assert _queue_free(path)
        begin_writing(session)
        assert session.connection() is conn and not reads_first(conn)
        assert _other_writer(path) == "database is locked"
        assert not _queue_free(path)
        session.execute(text("INSERT INTO t VALUES (1)"))
        session.commit()
    assert _other_writer(path) == "committed"  # released with the commit
    assert _queue_free(path)
    assert _count(path) == 3


def test_a_rollback_after_it_ends_the_write_and_leaves_the_queue(sqlite_file):
    engine, sessions, path = sqlite_file
    with sessions() as session:
        session.connection(execution_options=READS_FIRST)
        begin_writing(session)
        session.execute(text("INSERT INTO t VALUES (1)"))
        session.rollback()
    assert _queue_free(path) and _other_writer(path) == "committed"
    assert _count(path) == 1  # only the other writer's row
    with sessions() as session:  # the queue's lock is not still held by this process either
        session.execute(text("INSERT INTO t VALUES (2)"))
        session.commit()
    assert _count(path) == 2


def test_a_write_lock_it_cannot_get_is_the_database_s_error_and_holds_nothing(sqlite_file):
    """Another process holds SQLite's write lock past the busy timeout: the error is SQLAlchemy's
    (the edges' 503), the queue is left, and the next transaction begins normally."""
    engine, sessions, path = sqlite_file
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with sessions() as session:
            session.connection(execution_options=READS_FIRST)
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(OperationalError, match="locked"):
                begin_writing(session)
            assert _queue_free(path)
            session.rollback()
        holder.execute("COMMIT")
    finally:
        holder.close()
    with sessions() as session:
        session.execute(text("INSERT INTO t VALUES (3)"))
        session.commit()
    assert _count(path) == 1


def test_only_a_transaction_begun_as_a_read_may_be_turned_into_a_write(sqlite_file):
    engine, sessions, path = sqlite_file
    with sessions() as session:
        session.connection()
        with pytest.raises(RuntimeError, match="not begun as a read"):
            begin_writing(session)
