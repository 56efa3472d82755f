"""The change log: every service that changes data writes one ChangeRecord in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class ChangeRecord(SQLModel, table=True):
    __tablename__ = "change_records"
    __table_args__ = (Index("ix_change_records_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = utc_field(index=True)
    actor: str = Field(max_length=120)  # "user:<id>", "gateway:<client_id>", "system:<name>"
    actor_label: str = Field(default="", max_length=200)
    on_behalf_of_id: int | None = Field(default=None, foreign_key="organisations.id")
    action: str = Field(max_length=40)  # create, update, delete, suspend, sign, revoke, …
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=64)
    before: dict[str, Any] | None = json_field(None, nullable=True)
    after: dict[str, Any] | None = json_field(None, nullable=True)
    request_id: str | None = Field(default=None, max_length=64)
    message: str = Field(default="", max_length=1000)
