"""Create and update rows with their change record: the shape shared by the simple services."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.permissions import Permission
from registry.services.changes import record_change, snapshot
from registry.services.errors import Conflict, NotFound, ValidationFailed
from registry.services.terms_revision import note_change

T = TypeVar("T")


def _flush(session: Session, what: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        # The named database constraint is the backstop behind the domain checks.
        # Name the constraint, not the driver's message (which can echo the values).
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        text = str(exc.orig)
        if name is None:
            match = re.search(r"(UNIQUE|CHECK|FOREIGN KEY) constraint failed: ?([\w.]*)", text)
            name = match.group(2) or match.group(1) if match else "a constraint"
        raise Conflict(f"{what} conflicts with an existing record ({name})") from exc


def create_row(session: Session, *, actor: Actor, clock: Clock, permission: Permission,
               row: T, message: str = "") -> T:
    actor.require(permission)
    if hasattr(row, "created_at") and getattr(row, "created_at", None) is None:
        row.created_at = clock.now()  # type: ignore[attr-defined]
    session.add(row)
    _flush(session, type(row).__name__)
    note_change(session, row)  # terms cached by the decision path are dropped on every instance
    record_change(session, actor=actor, clock=clock, action="create", obj=row, before=None,
                  message=message)
    return row


def update_row(session: Session, *, actor: Actor, clock: Clock, permission: Permission,
               row: T, changes: dict[str, Any], action: str = "update", message: str = "") -> T:
    actor.require(permission)
    before = snapshot(row)
    for key, value in changes.items():
        if not hasattr(row, key):
            raise ValueError(f"{type(row).__name__} has no field {key!r}")
        setattr(row, key, value)
    _flush(session, type(row).__name__)
    note_change(session, row)
    record_change(session, actor=actor, clock=clock, action=action, obj=row, before=before,
                  message=message)
    return row


def set_status(session: Session, *, actor: Actor, clock: Clock, permission: Permission,
               model: type[T], row_id: int, status: str, allowed: tuple[str, ...], reason: str,
               action: str, extra: dict[str, Any] | None = None) -> T:
    """Move a row to ``status`` (one of ``allowed``) with its reason, as a change of its own."""
    actor.require(permission)  # first: an unauthorised caller learns nothing
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {model.__tablename__.rstrip('s').replace('_', ' ')} {row_id}")
    if status not in allowed:
        raise ValidationFailed("invalid status", {"status": "one of " + ", ".join(allowed)})
    return update_row(session, actor=actor, clock=clock, permission=permission, row=row,
                      changes={"status": status, "status_reason": reason, **(extra or {})},
                      action=action, message=reason)
