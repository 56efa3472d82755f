"""Bearer access tokens: issued short-lived, stored as hashes, checked against live state on use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.auth.secrets import ACCESS_TOKEN_PREFIX, hash_secret, new_secret
from registry.clock import Clock
from registry.db.direct import Direct
from registry.db.oauth import AccessToken
from registry.db.organisations import Gateway, Organisation
from registry.db.users import User
from registry.permissions import Permission

# The scope catalogue for gateways: scope name → permission it grants.
GATEWAY_SCOPES: dict[str, Permission] = {
    "routing:decide": Permission.ROUTING_DECIDE,
    "usage:report": Permission.USAGE_REPORT,
    "bundle:read": Permission.BUNDLE_READ,
    "feedback:report": Permission.FEEDBACK_REPORT,
}


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    row: AccessToken


def issue_gateway_token(session: Session, *, clock: Clock, gateway: Gateway, scope: str,
                        ttl: int) -> IssuedToken:
    now = clock.now()
    value = new_secret(ACCESS_TOKEN_PREFIX)
    row = AccessToken(token_hash=hash_secret(value), client_id=gateway.client_id,
                      gateway_id=gateway.id, scope=scope, issued_at=now,
                      expires_at=now + timedelta(seconds=ttl))
    session.add(row)
    session.flush()
    return IssuedToken(value, ttl, scope, row)


def issue_user_token(session: Session, *, clock: Clock, user: User, ttl: int) -> IssuedToken:
    now = clock.now()
    value = new_secret(ACCESS_TOKEN_PREFIX)
    row = AccessToken(token_hash=hash_secret(value), client_id=f"user:{user.id}", user_id=user.id,
                      scope="staff", issued_at=now, expires_at=now + timedelta(seconds=ttl))
    session.add(row)
    session.flush()
    return IssuedToken(value, ttl, "staff", row)


# Built once: every API request runs this lookup, the token with its gateway and hospital in one
# statement of plain columns (no ORM instances), straight on the cursor (registry/db/direct.py):
# a gateway's decision pays for one round trip and little else.
class _TokenRow(NamedTuple):
    revoked_at: object
    expires_at: object
    scope: str
    user_id: int | None
    id: int | None  # the gateway's (None for a person's token)
    client_id: str | None
    name: str | None
    hospital_id: int | None
    gateway_status: str | None
    hospital_status: str | None


_TOKEN_LOOKUP = Direct(
    select(AccessToken.revoked_at, AccessToken.expires_at, AccessToken.scope, AccessToken.user_id,
           Gateway.id, Gateway.client_id, Gateway.name, Gateway.hospital_id,
           Gateway.status.label("gateway_status"), Organisation.status.label("hospital_status"))
    .select_from(AccessToken)
    .outerjoin(Gateway, Gateway.id == AccessToken.gateway_id)
    .outerjoin(Organisation, Organisation.id == Gateway.hospital_id)
    .where(AccessToken.token_hash == bindparam("hash")))


def actor_for_token(session: Session, *, clock: Clock, token: str, request_id: str | None = None,
                    network_access_point: str = "") -> Actor | None:
    """The actor behind a bearer token, or None when it is unknown, expired, revoked, or its
    gateway (or the gateway's hospital) is no longer active: such tokens stop working at once."""
    if not token.startswith(ACCESS_TOKEN_PREFIX):
        return None
    # Lookup by hash through a unique index: the comparison never touches the plain value.
    # On the transaction's connection, past the ORM's execution layer (no entities to load).
    found = _TOKEN_LOOKUP.first(session.connection(), {"hash": hash_secret(token)})
    row = _TokenRow(*found) if found is not None else None
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.id is not None:  # a gateway's token; the row names the gateway (id, client_id, name, hospital)
        if row.gateway_status != "active" or row.hospital_status != "active":
            return None
        scopes = frozenset(GATEWAY_SCOPES[s] for s in row.scope.split() if s in GATEWAY_SCOPES)
        return Actor.for_gateway(row, scopes, request_id=request_id, network_access_point=network_access_point)
    user = session.get(User, row.user_id) if row.user_id else None
    if user is None or not user.active:
        return None
    return Actor.for_user(user, request_id=request_id, network_access_point=network_access_point,
                          permissions=token_permissions(row.scope))


# A session token ("staff") carries the person's roles; a personal API token names its scopes,
# which the person's roles then bound: a role taken away is gone from every token at once.
STAFF_SCOPE = "staff"


def token_permissions(scope: str) -> frozenset[Permission] | None:
    if scope == STAFF_SCOPE:
        return None
    known = {p.value: p for p in Permission}
    return frozenset(known[s] for s in scope.split() if s in known)


def touch_token(session: Session, *, clock: Clock, token: str, every_seconds: int = 60) -> bool:
    """Record that a personal token was used, at most once a minute. True when it wrote."""
    now = clock.now()
    result = session.execute(update(AccessToken)
                             .where(AccessToken.token_hash == hash_secret(token),
                                    AccessToken.user_id.is_not(None),
                                    (AccessToken.last_used_at.is_(None))
                                    | (AccessToken.last_used_at < now - timedelta(seconds=every_seconds)))
                             .values(last_used_at=now))
    return result.rowcount > 0


def revoke_token(session: Session, *, clock: Clock, token: str) -> bool:
    result = session.execute(update(AccessToken)
                             .where(AccessToken.token_hash == hash_secret(token),
                                    AccessToken.revoked_at.is_(None))
                             .values(revoked_at=clock.now()))
    return result.rowcount > 0


def introspect_token(session: Session, *, actor: Actor, clock: Clock, token: str) -> dict:
    """RFC 7662 introspection, for staff with ``tokens:introspect``.

    ``active`` is decided exactly as on every API call (:func:`actor_for_token`), so a token of a
    suspended gateway or offboarded hospital is reported inactive at once. Anything unknown,
    expired or revoked is just ``{"active": false}``: no hint of why (RFC 7662 §2.2).
    """
    actor.require(Permission.TOKENS_INTROSPECT)
    if actor_for_token(session, clock=clock, token=token) is None:
        return {"active": False}
    row = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_secret(token)))
    out = {"active": True, "client_id": row.client_id, "token_type": "Bearer", "scope": row.scope,
           "iat": int(row.issued_at.timestamp()), "exp": int(row.expires_at.timestamp()),
           "sub": row.client_id}
    if row.gateway_id is not None:
        hospital = session.scalar(select(Organisation).join(Gateway, Gateway.hospital_id == Organisation.id)
                                  .where(Gateway.id == row.gateway_id))
        out["hospital"] = hospital.ura
    return out
