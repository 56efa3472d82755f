"""The change log, written by every service that changes data, in the same transaction."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit.entries import action_code_for, append_entry
from registry.clock import Clock
from registry.db.changes import ChangeRecord

# Never copied into a change record or audit entry.
_SECRET_COLUMNS = {"password_hash", "secret_hash", "token_hash", "client_secret_sealed", "secret_sealed"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(obj: Any) -> dict[str, Any]:
    """Column values of a model instance, JSON-ready, secrets left out."""
    mapper = inspect(obj).mapper
    return {
        col.key: _jsonable(getattr(obj, col.key))
        for col in mapper.column_attrs
        if col.key not in _SECRET_COLUMNS
    }


def object_ref(obj: Any) -> tuple[str, str]:
    table = inspect(obj).mapper.local_table.name
    pk = inspect(obj).identity
    return table, ":".join(str(p) for p in pk) if pk else ""


def record_change(
    session: Session,
    *,
    actor: Actor,
    clock: Clock,
    action: str,
    obj: Any,
    before: dict[str, Any] | None,
    message: str = "",
) -> ChangeRecord:
    """Write the ChangeRecord (and its audit entry) for a change to ``obj``.

    Call after the change is applied and flushed, with ``before`` taken by :func:`snapshot`
    before it (None for a creation).
    """
    session.flush()
    after = snapshot(obj) if action != "delete" else None
    object_type, object_id = object_ref(obj)
    now = clock.now()
    record = ChangeRecord(
        created_at=now,
        actor=actor.ref,
        actor_label=actor.label,
        on_behalf_of_id=actor.on_behalf_of_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request_id=actor.request_id,
        message=message,
    )
    session.add(record)
    session.flush()
    changed = sorted(k for k in (after or {}) if (before or {}).get(k) != (after or {}).get(k))
    append_entry(
        session,
        actor=actor,
        at=now,
        event_type="change",
        action_code=action_code_for(action),
        outcome="success",
        object_type=object_type,
        object_id=object_id,
        detail={"change_record_id": record.id, "action": action, "changed": changed,
                "message": message},
    )
    return record
