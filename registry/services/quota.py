"""Quota reservation: atomic on PostgreSQL and SQLite, under concurrent gateways and instances."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.clock import Clock
from registry.db.contracts import Licence, QuotaCounter
from registry.db.direct import Direct
from registry.db.tools import Tool
from registry.domain.quota import Window


_USED = select(QuotaCounter.used).where(QuotaCounter.licence_id == bindparam("licence"),
                                        QuotaCounter.window_start == bindparam("start"))


def used_in_window(session: Session, licence_id: int, window_start: date) -> int:
    return session.connection().execute(_USED, {"licence": licence_id, "start": window_start}).scalar() or 0


def _upserts(dialect: str, _cache: dict = {}):  # noqa: B006 - a deliberate per-process cache
    """(take while below the limit, take without a limit) for ``dialect``, built once.

    Each: insert the window's counter at 1, or on conflict add 1 — the first only while
    ``used < limit`` — and return the count after it.
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
        # Straight on the cursor (registry/db/direct.py): every permit runs one of them.
        _cache[dialect] = (Direct(limited.returning(QuotaCounter.used)),
                           Direct(unlimited.returning(QuotaCounter.used)))
    return _cache[dialect]


class Taken(NamedTuple):
    reserved: bool
    overage: bool
    used: int | None  # the window's count after this reservation (None when nothing was taken)


def reserve(session: Session, licence_id: int, window: Window, limit: int | None,
            allow_overage: bool, *, clock: Clock | None = None) -> Taken:
    """Take one unit: (reserved, overage, the count after it).

    One statement. On PostgreSQL a concurrent writer waits for the row lock and re-checks the
    ``used < limit`` condition on the committed value, so the counter never passes the limit,
    whatever the number of threads or registry instances; SQLite serialises writers. No row
    back means no unit left. The count comes back from the statement itself, so a decision
    need not read it first (see ``services.decisions``).

    With ``clock``, the reservation that takes the last unit pushes ``licence.quota_exhausted``
    (:func:`announce_exhausted`) in the same transaction.
    """
    conn = session.connection()  # Core, straight on the transaction's connection: the hot path
    limited, unlimited = _upserts(conn.dialect.name)
    params = {"licence": licence_id, "start": window.starts_on, "end": window.ends_on}
    if limit is None:
        return Taken(True, False, unlimited.first(conn, params)[0])
    taken = limited.first(conn, dict(params, limit=limit)) if limit > 0 else None
    if taken is not None:
        if clock is not None and taken[0] == limit:
            announce_exhausted(session, clock=clock, licence_id=licence_id, window=window, limit=limit)
        return Taken(True, False, taken[0])
    if allow_overage:
        # Beyond the quota: count it all the same, so that overage is billed from the counter.
        return Taken(True, True, unlimited.first(conn, params)[0])
    return Taken(False, False, None)


def announce_exhausted(session: Session, *, clock: Clock, licence_id: int, window: Window, limit: int) -> None:
    """Push ``licence.quota_exhausted`` to the licence's hospital, the tool's vendor and operator
    (and national subscribers): once per licence and quota period, even when a released unit is
    taken again later (the delivery id is derived from the licence and the period)."""
    from registry.services.webhooks import enqueue

    lic = session.get(Licence, licence_id)
    tool = session.get(Tool, lic.tool_id)
    enqueue(session, clock=clock, event="licence.quota_exhausted",
            data={"licence_id": lic.id, "reference": lic.reference, "hospital_id": lic.hospital_id,
                  "tool": tool.slug, "limit": limit, "period_start": window.starts_on.isoformat(),
                  "period_end": window.ends_on.isoformat(), "on_quota_exhausted": lic.on_quota_exhausted},
            organisation_id=[o for o in (lic.hospital_id, tool.vendor_id, tool.operator_id) if o is not None],
            once_key=f"licence:{lic.id}:{window.starts_on.isoformat()}")


def release(session: Session, licence_id: int, window_start: date, units: int = 1) -> None:
    """Give ``units`` back (failed, cancelled or expired reservations); never below zero."""
    session.execute(update(QuotaCounter)
                    .where(QuotaCounter.licence_id == licence_id,
                           QuotaCounter.window_start == window_start, QuotaCounter.used > 0)
                    .values(used=case((QuotaCounter.used >= units, QuotaCounter.used - units), else_=0)))
