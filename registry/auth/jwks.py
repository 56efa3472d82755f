"""The registry's published public keys (``/.well-known/jwks.json``), kept in ``signing_keys``.

Private keys stay in ``REGISTRY_SIGNING_KEY_DIR`` (registry.keys); the table holds only public
JWKs, so that every instance publishes the same set, and a retired key stays published until the
last bundle it signed has expired (``publish_until``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry import keys
from registry.actor import Actor
from registry.clock import Clock
from registry.db.oauth import SigningKey as SigningKeyRow
from registry.services.changes import record_change


def record_key(session: Session, *, clock: Clock, key: keys.SigningKey) -> None:
    """Record ``key``'s public half if it is not there yet (flushes; idempotent across instances)."""
    if session.get(SigningKeyRow, key.kid) is not None:
        return
    try:
        with session.begin_nested():
            session.add(SigningKeyRow(kid=key.kid, public_jwk=json.dumps(key.public_jwk(), sort_keys=True),
                                      created_at=clock.now()))
            session.flush()
    except IntegrityError:
        pass  # another instance recorded the same key a moment ago


def published_jwks(session: Session, *, clock: Clock) -> dict:
    """The JWK Set: current keys and retired ones still inside their ``publish_until``."""
    now = clock.now()
    rows = session.scalars(select(SigningKeyRow).where(
        or_(SigningKeyRow.publish_until.is_(None), SigningKeyRow.publish_until > now))
        .order_by(SigningKeyRow.created_at.desc(), SigningKeyRow.kid))
    return {"keys": [json.loads(r.public_jwk) for r in rows]}


def rotate_signing_key(session: Session, *, actor: Actor, clock: Clock, directory: Path,
                       publish_for: int) -> keys.SigningKey:
    """Make a new signing key and retire the others: they stay published for ``publish_for``
    seconds (the bundle lifetime), so a gateway can still verify every bundle they signed.
    Recorded as a change (and so in the audit trail): who rotated, which kid replaced which."""
    now = clock.now()
    # Record the keys on disk first, so that a key no request ever used is still retired properly.
    for old in keys.load_all(directory):
        record_key(session, clock=clock, key=old)
    new = keys.rotate(directory)
    session.execute(update(SigningKeyRow).where(SigningKeyRow.retired_at.is_(None))
                    .values(retired_at=now, publish_until=now + timedelta(seconds=publish_for)))
    record_key(session, clock=clock, key=new)
    session.flush()
    record_change(session, actor=actor, clock=clock, action="rotate",
                  obj=session.get(SigningKeyRow, new.kid), before=None,
                  message=f"new signing key {new.kid}; previous keys published for {publish_for} s")
    return new
