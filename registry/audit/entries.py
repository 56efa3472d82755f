"""Appending audit entries. Called by services inside their own transaction: nothing is lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.audit import AuditEntry
from registry.ids import new_uuid

# NEN 7513 action codes.
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"

_ACTION_CODES = {"create": CREATE, "delete": DELETE, "offboard": UPDATE}


def action_code_for(change_action: str) -> str:
    return _ACTION_CODES.get(change_action, UPDATE)


def append_entry(session: Session, **fields: Any) -> AuditEntry:
    """Add one unsealed entry; the sequencer gives it its place in the chain later."""
    entry = build_entry(**fields)
    session.add(entry)
    return entry


def build_entry(**fields: Any) -> AuditEntry:
    """One unsealed entry, not yet added to any session."""
    return AuditEntry(**entry_values(**fields))


# The columns entry_values gives, in its order (bulk inserts name them up front).
ENTRY_KEYS = ("event_id", "recorded_at", "event_type", "action_code", "outcome", "actor", "actor_role",
              "on_behalf_of_id", "purpose_of_use", "network_access_point", "object_type", "object_id",
              "objects", "checks", "detail")


def entry_values(
    *,
    actor: Actor,
    at: datetime,
    event_type: str,
    action_code: str,
    outcome: str,
    object_type: str,
    object_id: str,
    objects: list[dict[str, Any]] | None = None,
    checks: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    purpose_of_use: str = "",
) -> AuditEntry:
    """The column values of one unsealed entry (the decision path inserts them with Core; columns
    left out take their defaults: unsealed, this system as source)."""
    if action_code not in (CREATE, READ, UPDATE, DELETE, EXECUTE):
        raise ValueError(f"NEN 7513 action code must be C, R, U, D or E, not {action_code!r}")
    return dict(
        event_id=new_uuid(),
        recorded_at=at,
        event_type=event_type,
        action_code=action_code,
        outcome=outcome,
        actor=actor.ref,
        actor_role=",".join(actor.roles),
        on_behalf_of_id=actor.on_behalf_of_id,
        purpose_of_use=purpose_of_use,
        network_access_point=actor.network_access_point,
        object_type=object_type,
        object_id=object_id,
        objects=objects or [{"type": object_type, "id": object_id}],
        checks=checks or {},
        detail=detail or {},
    )
