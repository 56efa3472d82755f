"""The monthly usage rollup (``usage_monthly``): completed studies per licence, month and overage.

Database triggers on ``decisions`` (migration 0011) append a +1 or -1 row for every decision that
becomes or stops being ``confirmed``, in the same transaction, so the rollup is exact by
construction; :func:`compact` folds each key's rows into one so that reading a year stays a few
thousand rows. Readers add up ``studies`` and never depend on compaction having run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from registry.db.decisions import Decision, Reservation, UsageMonthly

# One compaction at a time on PostgreSQL (a second one skips instead of waiting or deadlocking).
_LOCK = 0x75736167  # "usag"

_PG_COMPACT = text("""
    WITH keys AS (SELECT licence_id, month, overage FROM usage_monthly
                  GROUP BY licence_id, month, overage HAVING count(*) > 1),
    gone AS (DELETE FROM usage_monthly u USING keys k
             WHERE u.licence_id = k.licence_id AND u.month = k.month AND u.overage = k.overage
             RETURNING u.licence_id, u.month, u.overage, u.studies),
    folded AS (INSERT INTO usage_monthly (licence_id, month, overage, studies)
               SELECT licence_id, month, overage, sum(studies) FROM gone
               GROUP BY licence_id, month, overage HAVING sum(studies) <> 0 RETURNING 1)
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)""")


def compact(session: Session) -> int:
    """Fold every key's rows into one (a key adding up to zero leaves none); returns the number of
    rows removed. One statement on PostgreSQL (one snapshot: a row committed meanwhile is left for
    the next pass, never lost); on SQLite the writer holds the database, so three are as good."""
    if session.get_bind().dialect.name == "postgresql":
        if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}):
            return 0
        return int(session.scalar(_PG_COMPACT) or 0)
    key = (UsageMonthly.licence_id, UsageMonthly.month, UsageMonthly.overage)
    sums = session.execute(select(*key, func.sum(UsageMonthly.studies), func.count()).group_by(*key)
                           .having(func.count() > 1)).all()
    if not sums:
        return 0
    session.execute(delete(UsageMonthly).where(tuple_(*key).in_([tuple(r[:3]) for r in sums])))
    kept = [{"licence_id": r[0], "month": r[1], "overage": r[2], "studies": r[3]} for r in sums if r[3]]
    if kept:
        session.execute(insert(UsageMonthly), kept)
    return sum(r[4] for r in sums) - len(kept)


def monthly_counts(session: Session, licence_ids: list[int], starts_on: date, ends_on: date
                   ) -> dict[int, dict[tuple[int, int], list[int]]]:
    """licence → (year, month) → [within quota, overage] for the months from ``starts_on``'s to
    ``ends_on``'s, from the rollup."""
    out: dict[int, dict[tuple[int, int], list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    if not licence_ids:
        return out
    rows = session.execute(
        select(UsageMonthly.licence_id, UsageMonthly.month, UsageMonthly.overage, func.sum(UsageMonthly.studies))
        .where(UsageMonthly.licence_id.in_(licence_ids), UsageMonthly.month >= starts_on.replace(day=1),
               UsageMonthly.month <= ends_on)
        .group_by(UsageMonthly.licence_id, UsageMonthly.month, UsageMonthly.overage))
    for lic_id, month, overage, n in rows:
        if n:
            out[lic_id][(month.year, month.month)][1 if overage else 0] += int(n)
    return out


def recount(session: Session) -> dict[tuple[int, date, bool], int]:
    """What the rollup must say, counted from the decisions (for checks: :func:`differences`)."""
    month = func.date_trunc("month", Decision.evaluated_on) if session.get_bind().dialect.name == "postgresql" \
        else func.date(Decision.evaluated_on, "start of month")
    rows = session.execute(select(Decision.licence_id, month, Decision.overage, func.count())
                           .where(Decision.reservation == Reservation.CONFIRMED, Decision.licence_id.is_not(None))
                           .group_by(Decision.licence_id, month, Decision.overage))
    return {(lic, _day(m), bool(o)): n for lic, m, o, n in rows}


def differences(session: Session) -> dict[tuple[int, date, bool], tuple[int, int]]:
    """Keys where the rollup and the decisions disagree: key → (rollup, decisions). Empty when exact."""
    rolled = {(lic, _day(m), bool(o)): int(n) for lic, m, o, n in session.execute(
        select(UsageMonthly.licence_id, UsageMonthly.month, UsageMonthly.overage, func.sum(UsageMonthly.studies))
        .group_by(UsageMonthly.licence_id, UsageMonthly.month, UsageMonthly.overage)) if n}
    counted = recount(session)
    return {k: (rolled.get(k, 0), counted.get(k, 0)) for k in set(rolled) | set(counted)
            if rolled.get(k, 0) != counted.get(k, 0)}


def _day(value: object) -> date:
    # date_trunc gives a timestamp on PostgreSQL, date() a string on SQLite.
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value.date() if hasattr(value, "date") and callable(value.date) else value  # type: ignore[return-value]
