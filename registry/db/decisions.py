"""Routing decisions (with the quota reservation they made) and usage events."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class Reservation(StrEnum):
    NONE = "none"  # deny, dry run or evaluation: nothing reserved
    RESERVED = "reserved"  # permit: one unit of quota held
    CONFIRMED = "confirmed"  # gateway reported completed: billable
    RELEASED = "released"  # gateway reported failed or cancelled
    EXPIRED = "expired"  # never confirmed within the window: released, flagged for reconciliation


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint("outcome IN ('permit','deny')", name="outcome"),
        CheckConstraint("kind IN ('decide','evaluate')", name="kind"),
        CheckConstraint("reservation IN ('none','reserved','confirmed','released','expired')",
                        name="reservation"),
        # A retried permit must find the first one: one permit per (hospital, tool, purpose,
        # study_key). Only permits that reserved quota carry the key; NULLs never collide.
        UniqueConstraint("idempotency_key"),
        Index("ix_decisions_reservation_open", "reservation", "decided_at"),
        Index("ix_decisions_licence_window", "licence_id", "quota_window_start"),
    )

    id: str = Field(primary_key=True, max_length=36)
    decided_at: datetime = utc_field(index=True)
    kind: str = Field(default="decide", max_length=8)
    outcome: str = Field(max_length=8)
    dry_run: bool = False
    # The day the terms were evaluated on (Europe/Amsterdam); differs from decided_at for "at".
    evaluated_on: date
    gateway_id: int | None = Field(default=None, foreign_key="gateways.id")
    hospital_id: int = Field(foreign_key="organisations.id", index=True)
    actor: str = Field(max_length=120)  # "gateway:<client_id>" or "user:<id>"
    tool_slug: str = Field(max_length=64)
    tool_version_id: int | None = Field(default=None, foreign_key="tool_versions.id")
    purpose: str = Field(max_length=40)
    study_key: str = Field(max_length=128)
    idempotency_key: str | None = Field(default=None, max_length=64)
    reasons: list[dict[str, Any]] = json_field(list)
    obligations: list[dict[str, Any]] = json_field(list)
    refs: dict[str, Any] = json_field()
    # The request as received (study attributes and pseudonym; no other patient identifiers)
    # and the facts and rules behind the outcome, for GET /api/v1/decisions/<id>.
    request: dict[str, Any] = json_field()
    facts: dict[str, Any] = json_field()
    rules: list[str] = json_field(list)
    policy_version: str = Field(max_length=80)
    licence_id: int | None = Field(default=None, foreign_key="licences.id")
    quota_window_start: date | None = None
    overage: bool = False
    reservation: str = Field(default=Reservation.NONE, max_length=16)
    finalised_at: datetime | None = utc_field(nullable=True)


class UsageEvent(SQLModel, table=True):
    """What a gateway reports it actually did with a permit. ``event_id`` makes it exactly-once."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("hospital_id", "event_id"),
        CheckConstraint("outcome IN ('completed','failed','cancelled')", name="outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128)
    hospital_id: int = Field(foreign_key="organisations.id")
    gateway_id: int = Field(foreign_key="gateways.id")
    decision_id: str = Field(foreign_key="decisions.id", index=True)
    outcome: str = Field(max_length=16)
    occurred_at: datetime = utc_field()
    received_at: datetime = utc_field()


class UsageMonthly(SQLModel, table=True):
    """Completed studies per licence, month and overage flag: the monthly rollup statements and
    allocations read instead of the decisions.

    Kept by database triggers on ``decisions`` (migration 0011), so that every way a decision
    becomes or stops being ``confirmed`` is counted, in the same transaction: each change appends
    a row of +1 or -1 (never an update of a shared row, so concurrent usage reports do not queue
    or deadlock on it), and :func:`registry.services.usage_rollup.compact` folds the rows of a key
    into one. Readers always add up ``studies``, so the figures are exact whether or not the
    rollup has been compacted yet."""

    __tablename__ = "usage_monthly"
    __table_args__ = (Index("ix_usage_monthly_key", "licence_id", "month", "overage"),)

    id: int | None = Field(default=None, primary_key=True)
    licence_id: int = Field(foreign_key="licences.id")
    month: date  # the first day of the month of the decision's ``evaluated_on``
    overage: bool
    studies: int
