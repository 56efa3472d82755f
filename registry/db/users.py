"""People who log in: procurement officers, legal reviewers, auditors, privacy officers, admins.

Their roles are the names in registry.permissions.ROLES (the one list).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    roles: list[str] = json_field(list)
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id")
    locale: str = Field(default="nl", max_length=5)
    active: bool = True
    created_at: datetime = utc_field()
