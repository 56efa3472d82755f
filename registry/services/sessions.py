"""Web sessions and logins: server-side session records, idle and absolute timeouts, login
throttling per account and per address, and the access-log entry of every step.

The cookie carries only a random session value; the database keeps its SHA-256. A session ends
at logout, at its idle or absolute timeout, and whenever its user's password or roles change or
the user is disabled (:func:`revoke_user_sessions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit import access
from registry.auth.secrets import hash_secret, new_secret
from registry.clock import Clock
from registry.db.oauth import AccessToken
from registry.db.sessions import LoginFailure, UserSession
from registry.db.users import User
from registry.services.users import authenticate

SESSION_PREFIX = "aifi_ss_"
# A session's last_seen_at is written at most this often, so that browsing is not a write per page.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    """The timeouts and throttling limits (from Settings), in one value the edge passes in."""

    idle: timedelta
    absolute: timedelta
    throttle_window: timedelta
    max_failures_per_account: int
    max_failures_per_address: int

    @classmethod
    def from_settings(cls, settings) -> "SessionPolicy":  # noqa: ANN001
        return cls(idle=timedelta(seconds=settings.session_idle_timeout),
                   absolute=timedelta(seconds=settings.session_absolute_timeout),
                   throttle_window=timedelta(seconds=settings.login_throttle_window),
                   max_failures_per_account=settings.login_max_failures_per_account,
                   max_failures_per_address=settings.login_max_failures_per_address)


@dataclass(frozen=True)
class LoginResult:
    """``outcome`` is ``success`` (then ``user`` is set: open its session with
    :func:`open_session`), ``failure`` (unknown e-mail or wrong password: one answer for both) or
    ``locked`` (throttled)."""

    outcome: str
    user: User | None = None
    retry_after: timedelta | None = None


def normalise_account(email: str) -> str:
    return access.printable((email or "").strip().lower(), 254)


def _locked_until(session: Session, *, now: datetime, account: str, address: str,
                  policy: SessionPolicy) -> datetime | None:
    """When the throttle opens again, or None when it is open now."""
    since = now - policy.throttle_window
    ends = []
    for column, value, limit in ((LoginFailure.account, account, policy.max_failures_per_account),
                                 (LoginFailure.address, address, policy.max_failures_per_address)):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at))
            .where(column == value, LoginFailure.at > since)).one()
        if count >= limit:
            ends.append(oldest + policy.throttle_window)
    return max(ends) if ends else None


def log_in(session: Session, *, clock: Clock, email: str, password: str, address: str,
           policy: SessionPolicy, request_id: str | None = None) -> LoginResult:
    """Check a login. Failures and lock-outs are logged here; a success is logged when its
    session is opened (:func:`open_session`), which the edge does next.

    The throttle is checked first and on the address *as typed*, known or not, so neither the
    lock-out nor its message tells whether an account exists; an unknown e-mail and a wrong
    password run the same password-hash check (:func:`registry.services.users.authenticate`)."""
    now = clock.now()
    account = normalise_account(email)
    address = access.printable(address, 64)
    anonymous = access.anonymous(request_id=request_id, network_access_point=address)
    until = _locked_until(session, now=now, account=account, address=address, policy=policy)
    if until is not None:
        access.log_access(session, actor=anonymous, at=now, event_type=access.LOGIN,
                          outcome="denied", object_type="account", object_id=account,
                          detail={"reason": "too many failed logins", "locked_until": until.isoformat()})
        session.flush()
        return LoginResult("locked", retry_after=until - now)
    user = authenticate(session, account, password)
    if user is None:
        session.add(LoginFailure(account=account, address=address, at=now))
        access.log_access(session, actor=anonymous, at=now, event_type=access.LOGIN,
                          outcome="failure", object_type="account", object_id=account,
                          detail={"reason": "unknown e-mail address or wrong password"})
        session.flush()
        return LoginResult("failure")
    # A success clears the account's failures (the address keeps its count: one address trying
    # many accounts is still throttled).
    session.execute(delete(LoginFailure).where(LoginFailure.account == account))
    session.flush()
    return LoginResult("success", user=user)


def open_session(session: Session, *, clock: Clock, user: User, address: str,
                 policy: SessionPolicy, request_id: str | None = None, method: str) -> str:
    """Start a session for a user who has just proved who they are (``method``: password, or an
    SSO login), log it, and return the value for the cookie (shown once; only its hash is kept).
    A new value at every login: a session id planted before the login is worth nothing."""
    now = clock.now()
    address = access.printable(address, 64)
    value = new_secret(SESSION_PREFIX)
    session.add(UserSession(token_hash=hash_secret(value), user_id=user.id, created_at=now,
                            last_seen_at=now, expires_at=now + policy.absolute,
                            network_access_point=address))
    actor = Actor.for_user(user, request_id=request_id, network_access_point=address)
    access.log_access(session, actor=actor, at=now, event_type=access.LOGIN, outcome="success",
                      object_type="user", object_id=str(user.id), on_behalf_of_id=user.organisation_id,
                      detail={"method": method})
    session.flush()
    return value


def resume_session(session: Session, *, clock: Clock, value: str | None,
                   policy: SessionPolicy) -> User | None:
    """The user of a live session, or None when it is unknown, revoked, idle too long, past its
    absolute end, or its user is disabled. Touches ``last_seen_at`` (at most once a minute)."""
    if not value or not isinstance(value, str) or not value.startswith(SESSION_PREFIX):
        return None
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_secret(value)))
    now = clock.now()
    if (row is None or row.revoked_at is not None or now >= row.expires_at
            or now >= row.last_seen_at + policy.idle):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.flush()
    return user


def end_session(session: Session, *, actor: Actor, clock: Clock, value: str | None) -> None:
    """Logout: the session record is revoked, so the cookie is dead wherever a copy of it is."""
    now = clock.now()
    if value:
        session.execute(update(UserSession).where(UserSession.token_hash == hash_secret(value),
                                                  UserSession.revoked_at.is_(None))
                        .values(revoked_at=now, revoked_reason="logout"))
    access.log_access(session, actor=actor, at=now, event_type=access.LOGOUT, outcome="success",
                      object_type="user", object_id=actor.id, on_behalf_of_id=actor.organisation_id)
    session.flush()


def revoke_user_sessions(session: Session, *, user_id: int, clock: Clock, reason: str) -> int:
    """End every live web session and staff bearer token of a user: call it when the user's
    password or roles change or the user is disabled (``reason`` says which, up to 40
    characters). Returns the number of sessions ended. Flushes, never commits."""
    now = clock.now()
    ended = session.execute(update(UserSession).where(UserSession.user_id == user_id,
                                                      UserSession.revoked_at.is_(None))
                            .values(revoked_at=now, revoked_reason=reason[:40])).rowcount
    session.execute(update(AccessToken).where(AccessToken.user_id == user_id,
                                              AccessToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.flush()
    return ended
