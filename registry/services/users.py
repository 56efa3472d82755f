"""People who log in, with roles from registry.permissions."""

from __future__ import annotations

import functools
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from registry.actor import Actor
from registry.clock import Clock
from registry.db.organisations import Organisation
from registry.db.users import User
from registry.permissions import ROLES, Permission
from registry.scope import scope_of
from registry.services._rows import create_row, update_row
from registry.services._scope import require_visible
from registry.services.errors import NotFound, ValidationFailed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


LOCALES = ("nl", "en")
# The fields update_user changes; activity and the password have their own services below.
EDITABLE = ("name", "roles", "organisation_id", "locale")


def _check_roles(roles: list[str] | None, fields: dict[str, str]) -> None:
    bad = [r for r in roles or [] if r not in ROLES]
    if bad or not roles:
        fields["roles"] = f"unknown or missing role; known roles: {', '.join(ROLES)}"


def _check_organisation(session: Session, actor: Actor, organisation_id: int | None,
                        fields: dict[str, str]) -> None:
    """National staff place a person in any organisation or none; a hospital's or vendor's admin
    only in their own (never national: that would reach beyond their organisation)."""
    scope = scope_of(session, actor)
    if not scope.national and organisation_id != scope.organisation_id:
        fields["organisation_id"] = "you can only manage people of your own organisation"
    elif organisation_id is not None and session.get(Organisation, organisation_id) is None:
        fields["organisation_id"] = "no such organisation"


def create_user(session: Session, *, actor: Actor, clock: Clock, email: str, roles: list[str],
                password: str | None = None, name: str = "", organisation_id: int | None = None,
                locale: str = "nl") -> tuple[User, str | None]:
    """Create a user. Returns the user and the generated password when none was given: a one-time
    password the admin passes on (no e-mail is sent), shown once, stored only as a hash."""
    actor.require(Permission.USERS_MANAGE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        fields["email"] = "is not an e-mail address"
    elif session.scalar(select(User.id).where(User.email == email)) is not None:
        fields["email"] = "already has an account"
    if len((name or "").strip()) > 200:
        fields["name"] = "at most 200 characters"
    _check_roles(roles, fields)
    _check_organisation(session, actor, organisation_id, fields)
    if locale not in LOCALES:
        fields["locale"] = "nl or en"
    if password is not None and len(password) < 10:
        fields["password"] = "must be at least 10 characters"
    if fields:
        raise ValidationFailed("invalid user", fields)
    generated = None
    if password is None:
        password = generated = one_time_password()
    user = User(email=email, name=(name or "").strip(), roles=sorted(set(roles)), locale=locale,
                organisation_id=organisation_id, password_hash=generate_password_hash(password))
    create_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE, row=user)
    return user, generated


def one_time_password() -> str:
    # 16 random bytes: beyond guessing, short enough to read out over the phone.
    return secrets.token_urlsafe(16)


def get_user(session: Session, *, actor: Actor, user_id: int) -> User:
    """A user the actor may manage (a hospital's admin: only their own organisation's people)."""
    actor.require(Permission.USERS_MANAGE)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    require_visible(session, actor, User, user, "user")
    return user


def _national_admin(session: Session, *, active: bool, roles: list[str], organisation_id: int | None) -> bool:
    """An active administrator of no organisation (or of the consortium): someone who can still
    manage everyone."""
    if not active or "admin" not in roles:
        return False
    if organisation_id is None:
        return True
    org = session.get(Organisation, organisation_id)
    return org is None or org.kind == "consortium"


def _guard_last_admin(session: Session, user: User, *, after: dict) -> None:
    """Refuse a change that would leave the registry without an active national administrator:
    nobody could then manage users (or undo the change) but through the database."""
    now = {"active": user.active, "roles": user.roles, "organisation_id": user.organisation_id}
    if not _national_admin(session, **now) or _national_admin(session, **{**now, **after}):
        return
    others = session.scalars(select(User).where(User.active, User.id != user.id))
    if not any(_national_admin(session, active=u.active, roles=u.roles, organisation_id=u.organisation_id)
               for u in others):
        field = next(k for k in ("roles", "organisation_id", "active") if k in after)
        raise ValidationFailed("last administrator", {field: LAST_ADMIN})


LAST_ADMIN = "is the last active administrator: make someone else an administrator first"


def update_user(session: Session, *, actor: Actor, clock: Clock, user_id: int,
                changes: dict) -> User:
    """Change the fields named in ``changes`` (of :data:`EDITABLE`), nothing else. A change of
    roles or organisation ends the person's sessions: they log in again with what they now hold."""
    user = get_user(session, actor=actor, user_id=user_id)
    fields: dict[str, str] = {k: "cannot be changed here" for k in changes if k not in EDITABLE}
    clean = {}
    if "name" in changes:
        clean["name"] = (changes["name"] or "").strip()
        if len(clean["name"]) > 200:
            fields["name"] = "at most 200 characters"
    if "roles" in changes:
        _check_roles(changes["roles"], fields)
        clean["roles"] = sorted(set(changes["roles"] or []))
    if "organisation_id" in changes:
        _check_organisation(session, actor, changes["organisation_id"], fields)
        clean["organisation_id"] = changes["organisation_id"]
    if "locale" in changes:
        if changes["locale"] not in LOCALES:
            fields["locale"] = "nl or en"
        clean["locale"] = changes["locale"]
    if fields:
        raise ValidationFailed("invalid user", fields)
    changed = {k: v for k, v in clean.items() if getattr(user, k) != v}
    if not changed:
        return user
    _guard_last_admin(session, user, after=changed)
    update_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE, row=user,
               changes=changed)
    if {"roles", "organisation_id"} & set(changed):
        _end_sessions(session, clock=clock, user=user, reason="roles changed")
    return user


def set_user_active(session: Session, *, actor: Actor, clock: Clock, user_id: int,
                    active: bool, reason: str = "") -> User:
    """Disable (the person can no longer log in; their sessions and API tokens end) or enable."""
    user = get_user(session, actor=actor, user_id=user_id)
    if user.active == active:
        return user
    if not active:
        _guard_last_admin(session, user, after={"active": False})
    update_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE, row=user,
               changes={"active": active}, action="enable" if active else "disable", message=reason)
    if not active:
        _end_sessions(session, clock=clock, user=user, reason="disabled")
    return user


def reset_password(session: Session, *, actor: Actor, clock: Clock, user_id: int) -> tuple[User, str]:
    """Give the person a new one-time password (returned once, stored only as a hash); the old
    password and every session with it stop working."""
    user = get_user(session, actor=actor, user_id=user_id)
    password = one_time_password()
    update_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE, row=user,
               changes={"password_hash": generate_password_hash(password)}, action="reset_password")
    _end_sessions(session, clock=clock, user=user, reason="password reset")
    return user, password


def _end_sessions(session: Session, *, clock: Clock, user: User, reason: str) -> None:
    """The one place that ends a person's web sessions and API tokens after a change of roles or
    organisation, a disable or a password reset: what they held before must not outlive it."""
    from registry.services.sessions import revoke_user_sessions  # sessions imports this module

    revoke_user_sessions(session, user_id=user.id, clock=clock, reason=reason)


@functools.cache
def _unknown_user_hash() -> str:
    # Made once, with the same method and cost as real users' hashes.
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail address and password, or None.

    An unknown (or disabled, or password-less) user costs the same one password-hash check as a
    wrong password, so that neither the answer nor its timing tells which addresses exist."""
    user = session.scalar(select(User).where(User.email == (email or "").lower(), User.active))
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = check_password_hash(stored or _unknown_user_hash(), password or "")
    return user if stored and matches else None
