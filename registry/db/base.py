"""Metadata naming convention, shared column helpers, engine and session factories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, event
from sqlalchemy.engine import Engine, create_engine
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

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE")

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

