"""The append-only audit trail (NEN 7513 content) and its signed checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class AuditEntry(SQLModel, table=True):
    """One NEN 7513 access-log entry.

    Written unsealed (``seq`` NULL) in the same transaction as the decision or change it records;
    the sequencer later gives it its place in the hash chain (``seq``, ``prev_hash``,
    ``entry_hash``) in order, in batches.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_unsealed", "sealed", "id"),
        Index("ix_audit_entries_object", "object_type", "object_id"),
    )

    # BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY (which is 64-bit).
    id: int | None = Field(default=None, primary_key=True,
                           sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    event_id: str = Field(max_length=36, unique=True)
    recorded_at: datetime = utc_field(index=True)
    event_type: str = Field(max_length=40)  # decision, change, evaluation, login, export
    action_code: str = Field(max_length=1)  # NEN 7513: C, R, U, D, E
    outcome: str = Field(max_length=16)  # success, denied, failure
    actor: str = Field(max_length=120)
    actor_role: str = Field(default="", max_length=80)
    on_behalf_of_id: int | None = Field(default=None, index=True)
    purpose_of_use: str = Field(default="", max_length=40)
    network_access_point: str = Field(default="", max_length=64)
    source_system: str = Field(default="aifi-registry", max_length=80)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=64)
    objects: list[dict[str, Any]] = json_field(list)
    checks: dict[str, Any] = json_field()
    detail: dict[str, Any] = json_field()
    sealed: bool = False
    seq: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    prev_hash: str | None = Field(default=None, max_length=64)
    entry_hash: str | None = Field(default=None, max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A signed (Ed25519) statement of the chain's head at ``seq``."""

    __tablename__ = "audit_checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_type=BigInteger, unique=True)
    head_hash: str = Field(max_length=64)
    created_at: datetime = utc_field()
    kid: str = Field(max_length=64)
    signature: str  # compact JWS over the checkpoint statement
