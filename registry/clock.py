"""Injected clocks: services and domain never call ``datetime.now()`` themselves.

Date edges, time-travel evaluation, expiry of reservations and bundles, and tests all need to
move time, so every use case receives a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:  # aware, UTC
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass
class FixedClock:
    """A clock for tests and time travel; ``advance`` moves it forward."""

    current: datetime = field(default_factory=lambda: datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc))

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.current = self.current.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current = self.current + timedelta(**delta)
