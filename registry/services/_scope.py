"""The scope rule (registry.scope) as the services apply it to one row before they change it.

The edges already look rows up through the scope; the services check again, so that an API route
addressed by another key (a gateway's client id) or a future caller cannot reach past it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.permissions import Permission
from registry.scope import can_see, scope_of
from registry.services.errors import NotFound


def require_visible(session: Session, actor: Actor, model: type, row: Any, what: str) -> None:
    """A row outside the actor's scope does not exist for them: the same 404 as a missing one."""
    if not can_see(session, scope_of(session, actor), model, row):
        raise NotFound(f"no {what} {getattr(row, 'id', '')}".strip())


def require_national(session: Session, actor: Actor, permission: Permission) -> None:
    """Some changes reach beyond any one organisation (a new organisation, a national account):
    only national staff make them, whatever the roles of a hospital's or a vendor's people."""
    if not scope_of(session, actor).national:
        raise PermissionDenied(permission, actor)
