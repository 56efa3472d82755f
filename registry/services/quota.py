"""Quota reservation: atomic on PostgreSQL and SQLite, under concurrent gateways and instances."""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.db.contracts import QuotaCounter
from registry.domain.quota import Window


_USED = select(QuotaCounter.used).where(QuotaCounter.licence_id == bindparam("licence"),
                                        QuotaCounter.window_start == bindparam("start"))


def used_in_window(session: Session, licence_id: int, window_start: date) -> int:
    return session.connection().execute(_USED, {"licence": licence_id, "start": window_start}).scalar() or 0


def _upserts(dialect: str, _cache: dict = {}):  # noqa: B006 - a deliberate per-process cache
    """(take while below the limit, take without a limit) for ``dialect``, built once.

    Each: insert the window's counter at 1, or on conflict add 1 — the first only while
    ``used < limit``.
    """
    if dialect not in _cache:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        base = insert(QuotaCounter).values(licence_id=bindparam("licence"),
                                           window_start=bindparam("start"),
                                           window_end=bindparam("end"), used=1)
        keys = ["licence_id", "window_start"]
        limited = base.on_conflict_do_update(index_elements=keys, set_={"used": QuotaCounter.used + 1},
                                             where=QuotaCounter.used < bindparam("limit"))
        unlimited = base.on_conflict_do_update(index_elements=keys,
                                               set_={"used": QuotaCounter.used + 1})
        _cache[dialect] = (limited.returning(QuotaCounter.used), unlimited)
    return _cache[dialect]


def reserve(session: Session, licence_id: int, window: Window, limit: int | None,
            allow_overage: bool) -> tuple[bool, bool]:
    """Take one unit. Returns (reserved, overage).

    One statement. On PostgreSQL a concurrent writer waits for the row lock and re-checks the
    ``used < limit`` condition on the committed value, so the counter never passes the limit,
    whatever the number of threads or registry instances; SQLite serialises writers. No row
    back means no unit left.
    """
    conn = session.connection()  # Core, straight on the transaction's connection: the hot path
    limited, unlimited = _upserts(conn.dialect.name)
    params = {"licence": licence_id, "start": window.starts_on, "end": window.ends_on}
    if limit is None:
        conn.execute(unlimited, params)
        return True, False
    if limit > 0 and conn.execute(limited, dict(params, limit=limit)).first() is not None:
        return True, False
    if allow_overage:
        # Beyond the quota: count it all the same, so that overage is billed from the counter.
        conn.execute(unlimited, params)
        return True, True
    return False, False


def release(session: Session, licence_id: int, window_start: date) -> None:
    """Give one unit back (a failed, cancelled or expired reservation)."""
    session.execute(update(QuotaCounter)
                    .where(QuotaCounter.licence_id == licence_id,
                           QuotaCounter.window_start == window_start, QuotaCounter.used > 0)
                    .values(used=QuotaCounter.used - 1))
