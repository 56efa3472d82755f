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
from registry.db.users import User
from registry.permissions import ROLES, Permission
from registry.services._rows import create_row
from registry.services.errors import ValidationFailed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_user(session: Session, *, actor: Actor, clock: Clock, email: str, roles: list[str],
                password: str | None = None, name: str = "",
                organisation_id: int | None = None) -> tuple[User, str | None]:
    """Create a user. Returns the user and the generated password when none was given (shown once)."""
    actor.require(Permission.USERS_MANAGE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    if not _EMAIL.match(email or ""):
        fields["email"] = "is not an e-mail address"
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        fields["role"] = f"unknown or missing role; known roles: {', '.join(ROLES)}"
    if password is not None and len(password) < 10:
        fields["password"] = "must be at least 10 characters"
    if fields:
        raise ValidationFailed("invalid user", fields)
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    user = User(email=email.lower(), name=name, roles=sorted(set(roles)),
                organisation_id=organisation_id, password_hash=generate_password_hash(password))
    create_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE, row=user)
    return user, generated


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
