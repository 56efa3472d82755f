"""Checkpoints signed before a key rotation still verify: the verifier takes every key recorded
in ``signing_keys``, not only the one signing today (docs/audit.md, "Checkpoints")."""

from __future__ import annotations

from sqlalchemy import select

from registry.actor import Actor
from registry.audit.chain import seal_all
from registry.audit.verify import public_keys
from registry.auth.jwks import record_key, rotate_signing_key
from registry.db.audit import AuditCheckpoint
from registry.keys import load_or_create
from tests.audit.conftest import add_entries, verify


def test_checkpoints_of_a_retired_key_verify_after_rotation(session, clock, tmp_path):
    directory = tmp_path / "keys"
    old = load_or_create(directory)
    record_key(session, clock=clock, key=old)
    add_entries(session, clock, 6)
    seal_all(session, clock=clock, signer=old, checkpoint_every=3)
    new = rotate_signing_key(session, actor=Actor.system("tests"), clock=clock,
                             directory=directory, publish_for=3600)
    assert new.kid != old.kid
    add_entries(session, clock, 3)
    seal_all(session, clock=clock, signer=new, checkpoint_every=3)

    kids = set(session.scalars(select(AuditCheckpoint.kid)))
    assert {old.kid, new.kid} <= kids
    keys = public_keys(session, new)
    assert set(keys) >= {old.kid, new.kid}
    report = verify(session, new)
    assert report.ok, report.failure
    assert report.checkpoints_checked == len(session.scalars(select(AuditCheckpoint.id)).all())
