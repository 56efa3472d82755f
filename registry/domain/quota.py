"""Quota periods of a licence (call-off): the whole term, per calendar year or per month.

Periods are calendar dates in Europe/Amsterdam, inclusive, clipped to the licence's term.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class QuotaPeriod(StrEnum):
    TERM = "term"
    YEAR = "year"
    MONTH = "month"


class OnQuotaExhausted(StrEnum):
    DENY = "deny"
    OVERAGE = "overage"  # permit, with obligation OVERAGE_BILLABLE


@dataclass(frozen=True, slots=True)
class Window:
    starts_on: date
    ends_on: date


def quota_window(period: QuotaPeriod | str, term_start: date, term_end: date | None, day: date) -> Window:
    """The quota window containing ``day`` for a licence running ``term_start``..``term_end``."""
    period = QuotaPeriod(period)
    if period is QuotaPeriod.TERM:
        start, end = term_start, term_end or date(9999, 12, 31)
    elif period is QuotaPeriod.YEAR:
        start, end = date(day.year, 1, 1), date(day.year, 12, 31)
    else:
        last = calendar.monthrange(day.year, day.month)[1]
        start, end = date(day.year, day.month, 1), date(day.year, day.month, last)
    start = max(start, term_start)
    if term_end is not None:
        end = min(end, term_end)
    return Window(start, end)


@dataclass(frozen=True, slots=True)
class QuotaState:
    limit: int | None  # None: no quota on this licence
    used: int
    rule: OnQuotaExhausted

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit
