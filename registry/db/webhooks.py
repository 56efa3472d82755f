"""Webhook subscriptions and their deliveries: urgent notices pushed to gateways and operators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    url: str = Field(max_length=500)
    events: list[str] = json_field(list)
    # The registry must present the secret (it signs with it), so it is sealed, not hashed
    # (registry.auth.secretbox).
    secret_sealed: str = Field(max_length=512)
    active: bool = True
    created_at: datetime = utc_field()


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending','delivered','failed')", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: str = Field(primary_key=True, max_length=36)  # also the receiver's replay key
    subscription_id: int = Field(foreign_key="webhook_subscriptions.id", index=True)
    event: str = Field(max_length=60)
    payload: dict[str, Any] = json_field()
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = utc_field()
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=300)
    delivered_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field()
