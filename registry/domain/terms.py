"""Calendar terms and the one place where an instant becomes a term date.

Decided once, here: contracts, licences, data-processing agreements and certificates run on
**calendar dates in Europe/Amsterdam** with **inclusive end dates** (a term ending on
2026-12-31 is in force for the whole of that day, Amsterdam time). Timestamps are stored in UTC;
they become a term date only through :func:`term_date`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def term_date(instant: datetime, zone: ZoneInfo = AMSTERDAM) -> date:
    """The calendar date in ``zone`` at ``instant`` (which must be timezone-aware)."""
    if instant.tzinfo is None:
        raise ValueError("term_date needs an aware datetime; naive timestamps are ambiguous")
    return instant.astimezone(zone).date()


@dataclass(frozen=True, slots=True)
class Term:
    """A period of calendar days, both ends inclusive; ``ends_on=None`` means open-ended."""

    starts_on: date
    ends_on: date | None = None

    def __post_init__(self) -> None:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError(f"term ends ({self.ends_on}) before it starts ({self.starts_on})")

    def covers(self, day: date) -> bool:
        """True on every day from ``starts_on`` up to and including ``ends_on``."""
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


def in_force(starts_on: date | None, ends_on: date | None, day: date) -> bool:
    """Convenience for rows that may lack a start date (not yet effective → not in force)."""
    if starts_on is None:
        return False
    return Term(starts_on, ends_on).covers(day)


def earliest_end(*ends: date | None) -> date | None:
    """The earliest of several inclusive end dates, ignoring open ends."""
    known = [e for e in ends if e is not None]
    return min(known) if known else None
