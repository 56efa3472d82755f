"""Create and update rows with their change record: the shape shared by the simple services."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.permissions import Permission
from registry.scope import scope_of, visibility
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


def _within_scope(session: Session, actor: Actor, row: Any) -> None:
    """The re-check after a write (NetBox's ``restrict`` after save): a row the actor could not
    see once written — a licence for another hospital, an identity provider for another
    organisation, another hospital's row changed by id — is refused, and the edge rolls the
    change back. One place, so every service that writes through here keeps to the scope."""
    scope = scope_of(session, actor)
    if scope.national:
        return
    try:
        clause = visibility(scope, type(row))
    except LookupError:
        return  # a part of another object (a buyer, a note); its parent was looked up in scope
    if clause is None:
        return
    pk = list(type(row).__table__.primary_key.columns)[0]
    if session.scalar(select(pk).where(pk == getattr(row, pk.key), clause)) is None:
        raise ValidationFailed("outside your organisation",
                               {"organisation": "only records of your own organisation can be created or changed"})


def create_row(session: Session, *, actor: Actor, clock: Clock, permission: Permission,
               row: T, message: str = "") -> T:
    actor.require(permission)
    if hasattr(row, "created_at") and getattr(row, "created_at", None) is None:
        row.created_at = clock.now()  # type: ignore[attr-defined]
    session.add(row)
    _flush(session, type(row).__name__)
    _within_scope(session, actor, row)
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
    _within_scope(session, actor, row)
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


def delete_row(session: Session, *, actor: Actor, clock: Clock, permission: Permission, row: Any,
               message: str = "") -> None:
    """Delete a row (a link such as a contract's buyer), its last state kept in the change record."""
    actor.require(permission)
    before = snapshot(row)
    record_change(session, actor=actor, clock=clock, action="delete", obj=row, before=before, message=message)
    note_change(session, row)  # a buyer or tool removed from a contract is a change of terms
    session.delete(row)
    _flush(session, type(row).__name__)
