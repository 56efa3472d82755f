"""Personal API tokens of staff: for scripts that call the staff API as that person.

Shown once, stored only as a SHA-256 hash (prefix ``aifi_at_``), with scopes no wider than the
person's roles (and narrowed again on every use, should the roles shrink), an expiry and the
last time it was used. A person manages their own tokens; admins may revoke anyone's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.auth.secrets import ACCESS_TOKEN_PREFIX, hash_secret, new_secret
from registry.clock import Clock
from registry.db.oauth import AccessToken
from registry.db.users import User
from registry.permissions import Permission, permissions_for_roles
from registry.services.changes import record_change
from registry.services.errors import NotFound, ValidationFailed

MAX_DAYS = 366
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class CreatedToken:
    row: AccessToken
    token: str  # the only time the plain value exists outside the caller's hands

    @property
    def expires_at(self) -> datetime:
        return self.row.expires_at


def create_personal_token(session: Session, *, actor: Actor, clock: Clock, user_id: int, name: str,
                          days: int = DEFAULT_DAYS, scopes: list[str] | None = None) -> CreatedToken:
    """A token for ``user_id`` (oneself; or anyone, by the system actor of the CLI)."""
    if actor.kind != "system" and actor.id != str(user_id):
        raise PermissionDenied(Permission.USERS_MANAGE, actor)
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"no active user {user_id}")
    held = permissions_for_roles(user.roles)
    fields: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 120 or not name.isprintable():
        fields["name"] = "a name of 1 to 120 characters, so that you recognise the token later"
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        fields["days"] = f"a whole number of days from 1 to {MAX_DAYS}"
    wanted = sorted(held) if scopes is None else sorted(set(scopes))
    too_wide = [s for s in wanted if s not in {p.value for p in held}]
    if too_wide or not wanted:
        fields["scopes"] = ("choose at least one permission your roles hold" if not wanted
                            else "not held by your roles: " + ", ".join(too_wide))
    if fields:
        raise ValidationFailed("invalid API token", fields)
    now = clock.now()
    value = new_secret(ACCESS_TOKEN_PREFIX)
    row = AccessToken(token_hash=hash_secret(value), client_id=f"user:{user.id}", user_id=user.id,
                      name=name, scope=" ".join(str(s) for s in wanted), issued_at=now,
                      expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    record_change(session, actor=actor, clock=clock, action="token_create", obj=row, before=None,
                  message=name)
    return CreatedToken(row, value)


def list_personal_tokens(session: Session, *, actor: Actor, user_id: int) -> list[AccessToken]:
    if actor.id != str(user_id) and not actor.can(Permission.USERS_MANAGE):
        raise PermissionDenied(Permission.USERS_MANAGE, actor)
    return list(session.scalars(select(AccessToken).where(AccessToken.user_id == user_id,
                                                          AccessToken.name != "")
                                .order_by(AccessToken.issued_at.desc())))


def revoke_personal_token(session: Session, *, actor: Actor, clock: Clock, token_id: int) -> AccessToken:
    row = session.get(AccessToken, token_id)
    if row is None or row.user_id is None:
        raise NotFound(f"no API token {token_id}")
    if actor.id != str(row.user_id) and not actor.can(Permission.USERS_MANAGE):
        raise NotFound(f"no API token {token_id}")  # someone else's token does not exist for you
    if row.revoked_at is None:
        from registry.services.changes import snapshot

        before = snapshot(row)
        row.revoked_at = clock.now()
        session.flush()
        record_change(session, actor=actor, clock=clock, action="token_revoke", obj=row, before=before,
                      message=row.name)
    return row
