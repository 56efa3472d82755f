"""OAuth2 tokens (hashes only), client-assertion replay guard, the registry's signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import utc_field


class AccessToken(SQLModel, table=True):
    """A bearer token, stored only as the SHA-256 of its value."""

    __tablename__ = "access_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    client_id: str = Field(max_length=64, index=True)
    gateway_id: int | None = Field(default=None, foreign_key="gateways.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    # Personal API tokens of staff: a name the person chose, and when it was last used
    # (updated at most once a minute, so that a busy script does not write on every call).
    name: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    scope: str = Field(default="", max_length=400)
    issued_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
    last_used_at: datetime | None = utc_field(nullable=True)


class AssertionJti(SQLModel, table=True):
    """Seen ``jti`` values of client assertions (RFC 7523 §3 replay protection), until they expire."""

    __tablename__ = "assertion_jtis"
    __table_args__ = (UniqueConstraint("client_id", "jti"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64)
    jti: str = Field(max_length=200)
    expires_at: datetime = utc_field(index=True)


class SigningKey(SQLModel, table=True):
    """A public Ed25519 key of the registry, published in the JWKS until ``publish_until``.

    The private half lives in ``REGISTRY_SIGNING_KEY_DIR``, never in the database.
    """

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    public_jwk: str  # JSON text
    created_at: datetime = utc_field()
    retired_at: datetime | None = utc_field(nullable=True)
    publish_until: datetime | None = utc_field(nullable=True)
