"""Metadata naming convention, shared column helpers, engine and session factories."""

from __future__ import annotations

import fcntl
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, event
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import Field, SQLModel

from registry.db.types import UTCDateTime

# Named constraints, so that migrations can refer to (and drop) them on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def utc_field(nullable: bool = False, **kw: Any) -> Any:
    return Field(default=None if nullable else ..., sa_type=UTCDateTime, nullable=nullable, **kw)


def json_field(default_factory: Any = dict, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_type=JSON, nullable=nullable)


class _WriterQueue:
    """Writers of one SQLite file wait in a queue instead of SQLite's busy handler.

    SQLite answers a second writer with SQLITE_BUSY and its busy handler sleeps and retries
    (1, 2, 5 … 100 ms): under concurrent writers that sleep, not the work, made the tail latency.
    Here a writer first takes an exclusive ``flock`` on ``<database>-writer.lock`` (one open file
    per connection, so threads and processes queue alike; the kernel wakes the next one the moment
    the lock is released) and only then BEGIN IMMEDIATE, so SQLite never has to make it wait. The
    lock is released right after COMMIT or ROLLBACK. Waiting is bounded as before: after the
    busy timeout the writer goes on without the queue and SQLite decides. Processes that do not
    use this engine (the sqlite3 shell) are still handled by the busy timeout.
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        from sqlalchemy.engine import make_url

        self.path = f"{make_url(url).database}-writer.lock"
        self.timeout = timeout
        self._files: dict[int, Any] = {}  # id(DBAPI connection) -> its open lock file
        self._locked: set[int] = set()  # connections holding the lock now
        self._local = threading.local()

    @staticmethod
    def _key(connection: Any) -> int:
        """The raw DBAPI connection's id (commit and rollback get the pool's proxy for it)."""
        return id(getattr(connection, "dbapi_connection", connection))

    def _file(self, dbapi_connection: Any) -> Any:
        handle = self._files.get(self._key(dbapi_connection))
        if handle is None:
            handle = self._files[self._key(dbapi_connection)] = open(self.path, "a+b")  # noqa: SIM115
        return handle

    def acquire(self, dbapi_connection: Any) -> None:
        handle = self._file(dbapi_connection)
        deadline = time.monotonic() + self.timeout
        # A blocking flock cannot time out; a thread of this process that already holds the lock
        # through another connection would wait forever. Such a caller gives up after the timeout
        # (polling, which only that pathological case ever reaches).
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (fcntl.LOCK_NB if self._holding() else 0))
                self._hold(dbapi_connection, True)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)

    def _holding(self) -> bool:
        return bool(getattr(self._local, "held", 0))

    def _hold(self, dbapi_connection: Any, held: bool) -> None:
        self._local.held = getattr(self._local, "held", 0) + (1 if held else -1)
        (self._locked.add if held else self._locked.discard)(self._key(dbapi_connection))

    def release(self, dbapi_connection: Any) -> None:
        if self._key(dbapi_connection) in self._locked:
            fcntl.flock(self._files[self._key(dbapi_connection)].fileno(), fcntl.LOCK_UN)
            self._hold(dbapi_connection, False)

    def forget(self, dbapi_connection: Any) -> None:
        self.release(dbapi_connection)
        handle = self._files.pop(self._key(dbapi_connection), None)
        if handle is not None:
            handle.close()

    def release_after_commit_and_rollback(self, engine: Engine) -> None:
        """Wrap the dialect's COMMIT and ROLLBACK (the events fire before them, too early)."""
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        dialect.do_commit, dialect.do_rollback = do_commit, do_rollback
        event.listen(engine, "close", lambda dbapi_connection, _record: self.forget(dbapi_connection))
        event.listen(engine, "close_detached", lambda dbapi_connection: self.forget(dbapi_connection))


# Execution option for a session's first connection: on SQLite, begin this transaction without
# the write lock (BEGIN, not BEGIN IMMEDIATE), because the caller promises to end it before its
# first write (see reads_first() and services/decisions.py). Ignored on PostgreSQL.
READS_FIRST_OPTION = "registry_reads_first"
READS_FIRST = {READS_FIRST_OPTION: True}


def reads_first(connection: Any) -> bool:
    """True when ``connection``'s transaction was begun as a read on SQLite (no write lock):
    its holder must end it (commit) before writing, or SQLite may refuse the write."""
    return connection.info.get(READS_FIRST_OPTION) is True


def begin_writing(session: Session) -> None:
    """End the read that ``session``'s transaction began with (:func:`reads_first`) and begin
    writing on the same connection: COMMIT, the writers' queue, BEGIN IMMEDIATE — what
    ``session.commit()`` followed by a new transaction does, without handing the connection back
    to the pool and taking it out again, through SQLAlchemy's transaction bookkeeping twice (most
    of the 9 % of a permit that ending the read took, by py-spy). SQLAlchemy's transaction goes
    on around it: its commit or rollback ends the write and leaves the queue, as for any writer.
    The read must have written nothing (this commits only what SQLite holds, not the session's
    pending rows)."""
    conn = session.connection()
    if not reads_first(conn):
        raise RuntimeError("begin_writing: the transaction was not begun as a read")
    dbapi_connection = conn.connection.dbapi_connection
    writers = conn.info.get(_WRITERS)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        dbapi_connection.execute("COMMIT")
    except dbapi_error as exc:
        raise DBAPIError.instance("COMMIT", (), exc, dbapi_error, dialect=conn.dialect) from exc
    conn.info[READS_FIRST_OPTION] = False
    _begin_immediate(conn, dbapi_connection, writers)


_WRITERS = "registry_writers"


def _begin_immediate(conn: Any, dbapi_connection: Any, writers: _WriterQueue | None) -> None:
    """Queue for the write lock, then BEGIN IMMEDIATE on the DBAPI connection: every request
    begins here, and SQLAlchemy's execution layer would cost more than the statement (statement
    listeners do not see it). Its error is made SQLAlchemy's here (the edges answer those with a
    503), and the queue left."""
    if writers is not None:
        writers.acquire(dbapi_connection)
    _begin(conn, dbapi_connection, writers, "BEGIN IMMEDIATE")


def _begin(conn: Any, dbapi_connection: Any, writers: _WriterQueue | None, statement: str) -> None:
    try:
        dbapi_connection.execute(statement)
    except conn.dialect.loaded_dbapi.Error as exc:
        if writers is not None:
            writers.release(dbapi_connection)
        raise DBAPIError.instance(statement, (), exc, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and serialised writers.

    SQLite: every transaction starts with BEGIN IMMEDIATE, so two writers never both read and then
    race to upgrade their lock (which SQLite answers with SQLITE_BUSY at once, not after waiting).
    Correctness does not rely on this: quota and idempotency are enforced by conditional updates
    and unique constraints that hold on PostgreSQL too.
    """
    if url.startswith("sqlite"):
        connect_args = kw.pop("connect_args", {})
        connect_args.setdefault("timeout", 30)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url and "mode=memory" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        writers = _WriterQueue(url) if ":memory:" not in url and "mode=memory" not in url else None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            dbapi_connection = conn.connection.dbapi_connection
            # A transaction that only reads before it ends (see READS_FIRST) takes no write lock.
            reads_first = conn.get_execution_options().get(READS_FIRST_OPTION) is True
            conn.info[READS_FIRST_OPTION] = reads_first  # the pooled connection's: set at every begin
            conn.info[_WRITERS] = writers  # for begin_writing, which ends a read on this connection
            if reads_first:
                _begin(conn, dbapi_connection, None, "BEGIN")
            else:
                _begin_immediate(conn, dbapi_connection, writers)

        if writers is not None:
            writers.release_after_commit_and_rollback(engine)
        return engine
    # An unreachable server must become a quick 503, not a request hanging on TCP timeouts.
    connect_args = kw.pop("connect_args", {})
    connect_args.setdefault("connect_timeout", 5)
    kw["connect_args"] = connect_args
    kw.setdefault("pool_timeout", 5)
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    return create_engine(url, **kw)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)

