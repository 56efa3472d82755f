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


def _insert(session: Session):  # noqa: ANN202
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def reserve(session: Session, licence_id: int, window: Window, limit: int | None,
            allow_overage: bool) -> tuple[bool, bool]:
    """Take one unit. Returns (reserved, overage).

    One statement: insert the window's counter at 1, or on conflict add 1 *only while
    used < limit*. On PostgreSQL a concurrent writer waits for the row lock and re-checks the
    condition on the committed value, so the counter never passes the limit, whatever the number
    of threads or registry instances; SQLite serialises writers. No row back means no unit left.
    """
    if limit is not None and limit <= 0:
        taken = False
    else:
        stmt = _insert(session)(QuotaCounter).values(
            licence_id=licence_id, window_start=window.starts_on, window_end=window.ends_on, used=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["licence_id", "window_start"],
            set_={"used": QuotaCounter.used + 1},
            where=(QuotaCounter.used < limit) if limit is not None else None,
        ).returning(QuotaCounter.used)
        taken = session.execute(stmt).first() is not None
    if taken:
        return True, False
    if allow_overage:
        # Beyond the quota: count it all the same, so that overage is billed from the counter.
        stmt = _insert(session)(QuotaCounter).values(
            licence_id=licence_id, window_start=window.starts_on, window_end=window.ends_on, used=1)
        session.execute(stmt.on_conflict_do_update(index_elements=["licence_id", "window_start"],
                                                   set_={"used": QuotaCounter.used + 1}))
        return True, True
    return False, False


def release(session: Session, licence_id: int, window_start: date) -> None:
    """Give one unit back (a failed, cancelled or expired reservation)."""
    session.execute(update(QuotaCounter)
                    .where(QuotaCounter.licence_id == licence_id,
                           QuotaCounter.window_start == window_start, QuotaCounter.used > 0)
                    .values(used=QuotaCounter.used - 1))
