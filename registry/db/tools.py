"""AI tools and their versions (intended use, CE/MDR certificate, suspension)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class ToolStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tool(SQLModel, table=True):
    __tablename__ = "tools"
    __table_args__ = (CheckConstraint("status IN ('active','suspended')", name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=2000)
    vendor_id: int = Field(foreign_key="organisations.id", index=True)
    # The platform operator hosting the model in the central cloud: first processor in the chain.
    operator_id: int | None = Field(default=None, foreign_key="organisations.id")
    status: str = Field(default=ToolStatus.ACTIVE, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    status_since: date | None = None
    created_at: datetime = utc_field()


class ToolVersion(SQLModel, table=True):
    __tablename__ = "tool_versions"
    __table_args__ = (
        UniqueConstraint("tool_id", "version"),
        CheckConstraint("status IN ('active','suspended','withdrawn')", name="status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tool_id: int = Field(foreign_key="tools.id", index=True)
    version: str = Field(max_length=64)
    released_on: date | None = None
    # Intended use as data (registry.domain.intended_use documents the shape).
    intended_use: dict[str, Any] = json_field()
    mdr_class: str | None = Field(default=None, max_length=8)
    certificate_number: str | None = Field(default=None, max_length=120)
    notified_body: str | None = Field(default=None, max_length=120)
    certificate_expires_on: date | None = None
    status: str = Field(default="active", max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    status_since: date | None = None
    # The version gateways get when they do not ask for one.
    is_default: bool = False
    created_at: datetime = utc_field()
