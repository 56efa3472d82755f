"""Quota burn-down: how much of a licence's quota is used day by day, when it will run out at the
current rate, and whether an alert is due (80 % and 100 %). Pure: dates and counts in, facts out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

ALERT_LEVELS = (100, 80)  # per cent of the quota, highest first


@dataclass(frozen=True)
class BurnDown:
    limit: int | None
    used: int
    points: list[tuple[date, int]]  # (day, cumulative used) from the window's start to ``today``
    runs_out_on: date | None  # at the current rate; None when it will not run out in the window
    alert: int | None  # 80 or 100 (per cent reached), or None


def alert_level(limit: int | None, used: int) -> int | None:
    """The highest alert level reached (100 when the quota is used up), or None."""
    if not limit:
        return None
    return next((level for level in ALERT_LEVELS if used * 100 >= level * limit), None)


def burn_down(limit: int | None, daily: dict[date, int], window_start: date, window_end: date,
              today: date) -> BurnDown:
    """Cumulative use over the quota window up to ``today`` and the day the quota runs out if use
    goes on at the average daily rate so far (linear forecast)."""
    last = min(today, window_end)
    points, total, day = [], 0, window_start
    while day <= last:
        total += daily.get(day, 0)
        points.append((day, total))
        day += timedelta(days=1)
    runs_out = None
    if limit is not None and points:
        if total >= limit:
            # The first day the cumulative use reached the quota.
            runs_out = next(d for d, n in points if n >= limit)
        elif total > 0:
            elapsed = len(points)
            days_needed = -(-(limit - total) * elapsed // total)  # ceiling division
            candidate = last + timedelta(days=days_needed)
            runs_out = candidate if candidate <= window_end else None
    return BurnDown(limit, total, points, runs_out, alert_level(limit, total))
