"""Audit fixtures: a signing key of the test's own and a sealed log to tamper with."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from registry.actor import Actor
from registry.audit.chain import seal_all
from registry.audit.entries import UPDATE, append_entry
from registry.audit.verify import public_keys, verify_chain
from registry.keys import load_or_create


@pytest.fixture
def signer(tmp_path):
    return load_or_create(tmp_path / "audit-keys")


def add_entries(session, clock, n: int, *, object_type: str = "licence", actor=None) -> None:
    actor = actor or Actor.system("audit-tests")
    for i in range(n):
        append_entry(session, actor=actor, at=clock.now(), event_type="change",
                     action_code=UPDATE, outcome="success", object_type=object_type,
                     object_id=str(i), detail={"i": i})
    session.flush()


@pytest.fixture
def sealed(session, clock, signer):
    """The demo world's entries plus a few of our own, all sealed, a checkpoint every 5."""
    add_entries(session, clock, 12)
    seal_all(session, clock=clock, signer=signer, checkpoint_every=5)
    return session


def verify(session, signer, **kw):
    return verify_chain(session, keys=public_keys(session, signer), **kw)


def sql(session, statement: str, **params) -> None:
    session.execute(text(statement), params)
