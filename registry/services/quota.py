"""Quota reservation: atomic on PostgreSQL and SQLite, under concurrent gateways and instances."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.db.contracts import QuotaCounter
from registry.domain.quota import Window


def used_in_window(session: Session, licence_id: int, window_start: date) -> int:
    used = session.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == licence_id,
                                                          QuotaCounter.window_start == window_start))
    return used or 0


def _ensure_counter(session: Session, licence_id: int, window: Window) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(QuotaCounter).values(licence_id=licence_id, window_start=window.starts_on,
                                       window_end=window.ends_on, used=0)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["licence_id", "window_start"]))


def reserve(session: Session, licence_id: int, window: Window, limit: int | None,
            allow_overage: bool) -> tuple[bool, bool]:
    """Take one unit. Returns (reserved, overage).

    The conditional ``UPDATE … WHERE used < limit`` is the whole guarantee: on PostgreSQL a
    concurrent writer waits for the row lock and re-checks the condition on the new value, so the
    counter can never pass the limit, whatever the number of threads or instances.
    """
    _ensure_counter(session, licence_id, window)
    where = [QuotaCounter.licence_id == licence_id, QuotaCounter.window_start == window.starts_on]
    if limit is None:
        session.execute(update(QuotaCounter).where(*where).values(used=QuotaCounter.used + 1))
        return True, False
    result = session.execute(update(QuotaCounter).where(*where, QuotaCounter.used < limit)
                             .values(used=QuotaCounter.used + 1))
    if result.rowcount == 1:
        return True, False
    if allow_overage:
        session.execute(update(QuotaCounter).where(*where).values(used=QuotaCounter.used + 1))
        return True, True
    return False, False


def release(session: Session, licence_id: int, window_start: date) -> None:
    """Give one unit back (a failed, cancelled or expired reservation)."""
    session.execute(update(QuotaCounter)
                    .where(QuotaCounter.licence_id == licence_id,
                           QuotaCounter.window_start == window_start, QuotaCounter.used > 0)
                    .values(used=QuotaCounter.used - 1))
