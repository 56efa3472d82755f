"""Organisations (hospitals, vendors, platform operators, the consortium) and their gateways."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import utc_field


class OrganisationKind(StrEnum):
    HOSPITAL = "hospital"
    VENDOR = "vendor"
    PLATFORM_OPERATOR = "platform_operator"
    CONSORTIUM = "consortium"


class OrganisationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("kind IN ('hospital','vendor','platform_operator','consortium')", name="kind"),
        CheckConstraint("status IN ('active','suspended','offboarded')", name="status"),
        CheckConstraint("ura IS NULL OR length(ura) = 8", name="ura_8_digits"),
        CheckConstraint("agb IS NULL OR length(agb) = 8", name="agb_8_digits"),
        CheckConstraint("kvk IS NULL OR length(kvk) = 8", name="kvk_8_digits"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    name: str = Field(max_length=200, unique=True)
    country: str = Field(default="NL", max_length=2)
    # Dutch identifiers: URA (UZI-register subscriber number), AGB code, KvK number; 8 digits each.
    ura: str | None = Field(default=None, max_length=8, unique=True)
    agb: str | None = Field(default=None, max_length=8, unique=True)
    kvk: str | None = Field(default=None, max_length=8, unique=True)
    status: str = Field(default=OrganisationStatus.ACTIVE, max_length=16)
    status_since: date | None = None
    status_reason: str | None = Field(default=None, max_length=500)
    # True for invented organisations and figures in the demo world.
    illustrative: bool = False
    created_at: datetime = utc_field()


class GatewayStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Gateway(SQLModel, table=True):
    """A hospital's gateway: the machine that asks before it routes a study. An OAuth2 client."""

    __tablename__ = "gateways"
    __table_args__ = (
        CheckConstraint("status IN ('active','suspended','revoked')", name="status"),
        UniqueConstraint("hospital_id", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id", index=True)
    name: str = Field(max_length=120)
    client_id: str = Field(max_length=64, unique=True)
    status: str = Field(default=GatewayStatus.ACTIVE, max_length=16)
    created_at: datetime = utc_field()
    suspended_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class GatewayCredential(SQLModel, table=True):
    """One credential of a gateway: a public JWK (private_key_jwt) or a secret's hash.

    Rotation adds a new row and revokes the old; history is kept. Secrets are stored only as
    SHA-256 hashes (prefixed so that a leaked value is recognisable).
    """

    __tablename__ = "gateway_credentials"
    __table_args__ = (
        CheckConstraint("method IN ('private_key_jwt','client_secret_basic')", name="method"),
    )

    id: int | None = Field(default=None, primary_key=True)
    gateway_id: int = Field(foreign_key="gateways.id", index=True)
    method: str = Field(max_length=32)
    public_jwk: str | None = None  # JSON text of the public key
    key_thumbprint: str | None = Field(default=None, max_length=64)
    secret_hash: str | None = Field(default=None, max_length=128)
    created_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
