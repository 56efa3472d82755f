"""Server-side web sessions and the failed-login counter behind login throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from registry.db.base import utc_field


class UserSession(SQLModel, table=True):
    """One logged-in browser. The cookie carries a random value; only its SHA-256 is stored here,
    so that logging out (or a password change, a role change, disabling the user) ends it for
    good, whatever copy of the cookie is still around."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    expires_at: datetime = utc_field()  # the absolute end, however active the session is
    network_access_point: str = Field(default="", max_length=64)
    revoked_at: datetime | None = utc_field(nullable=True)
    revoked_reason: str = Field(default="", max_length=40)


class LoginFailure(SQLModel, table=True):
    """A failed login, kept only for the throttling window. ``account`` is the address as typed
    (lower-cased), known or not, so that the throttle itself never tells which accounts exist.
    The audit trail keeps the lasting record."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_at", "account", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=254)
    address: str = Field(max_length=64)
    at: datetime = utc_field()
