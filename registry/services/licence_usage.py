"""A licence's usage per month (reserved, completed, released, expired) and the burn-down of its
current quota window with a forecast and alerts (read-only; counted in the database)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.contracts import Licence
from registry.db.decisions import Decision, Reservation
from registry.domain.burndown import burn_down
from registry.domain.pricing import Period
from registry.domain.quota import quota_window
from registry.permissions import Permission
from registry.scope import can_see, scope_of
from registry.services.errors import NotFound

STATES = ("reserved", "completed", "released", "expired")
_STATE_OF = {Reservation.RESERVED: "reserved", Reservation.CONFIRMED: "completed",
             Reservation.RELEASED: "released", Reservation.EXPIRED: "expired"}


def _daily(session: Session, licence_id: int, starts_on: date, ends_on: date) -> list[tuple[date, str, int]]:
    rows = session.execute(
        select(Decision.evaluated_on, Decision.reservation, func.count())
        .where(Decision.licence_id == licence_id, Decision.reservation != Reservation.NONE,
               Decision.evaluated_on >= starts_on, Decision.evaluated_on <= ends_on)
        .group_by(Decision.evaluated_on, Decision.reservation))
    return [(day, _STATE_OF[Reservation(state)], n) for day, state, n in rows]


def licence_usage(session: Session, *, actor: Actor, licence_id: int, today: date,
                  period: Period | None = None) -> dict[str, Any]:
    """Months of ``period`` (default: the licence's term) and the burn-down of the quota window that
    contains ``today`` (or the last window of the term, once it has ended)."""
    actor.require(Permission.USAGE_READ)
    lic = session.get(Licence, licence_id)
    if lic is None or not can_see(session, scope_of(session, actor), Licence, lic):
        raise NotFound(f"no licence {licence_id}")
    starts_on, ends_on = (period.starts_on, period.ends_on) if period else (lic.starts_on, lic.ends_on)
    months: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    for day, state, n in _daily(session, lic.id, starts_on, ends_on):
        months[f"{day.year}-{day.month:02d}"][state] += n
    day = min(max(today, lic.starts_on), lic.ends_on)
    window = quota_window(lic.quota_period, lic.starts_on, lic.ends_on, day)
    used_daily: dict[date, int] = defaultdict(int)
    for d, state, n in _daily(session, lic.id, window.starts_on, window.ends_on):
        if state in ("reserved", "completed"):  # what holds quota (released and expired gave it back)
            used_daily[d] += n
    bd = burn_down(lic.quota_limit, used_daily, window.starts_on, window.ends_on, day)
    return {"licence": {"id": lic.id, "reference": lic.reference},
            "months": [{"month": m, **months[m]} for m in sorted(months)],
            "window": {"starts_on": window.starts_on, "ends_on": window.ends_on},
            "quota_limit": lic.quota_limit, "used": bd.used, "runs_out_on": bd.runs_out_on, "alert": bd.alert,
            "points": bd.points}
