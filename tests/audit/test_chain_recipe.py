"""The chain as an outsider checks it: every hash and every checkpoint re-computed from the stored
columns with the standard library alone, following docs/audit.md and nothing of ours.

The verifier uses the same hashing code as the sealer, so a change to what is hashed (a field
left out, renamed or set to None) keeps the chain consistent with itself and every other test
green, while every copy an auditor or a hospital verified independently stops matching.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from registry.audit.chain import HASHED_FIELDS, seal_all, utc_stamp
from registry.db.audit import AuditCheckpoint, AuditEntry
from tests.audit.conftest import add_entries

# docs/audit.md, "What an entry holds": the NEN 7513 fields, written out here on purpose.
DOCUMENTED_FIELDS = ("event_id", "recorded_at", "event_type", "action_code", "outcome", "actor",
                     "actor_role", "on_behalf_of_id", "purpose_of_use", "network_access_point",
                     "source_system", "object_type", "object_id", "objects", "checks", "detail")


def _stamp(value) -> str:
    # "recorded_at as YYYY-MM-DDTHH:MM:SS.ffffffZ"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _documented_hash(row, seq: int, prev_hash: str) -> str:
    content = {name: getattr(row, name) for name in DOCUMENTED_FIELDS}
    content["recorded_at"] = _stamp(row.recorded_at)
    content["seq"], content["prev_hash"] = seq, prev_hash
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _payload(jws: str) -> dict:
    body = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_the_hashed_fields_are_the_documented_ones():
    assert HASHED_FIELDS == DOCUMENTED_FIELDS


def test_every_entry_hash_is_the_documented_recipe(session, clock, signer):
    add_entries(session, clock, 7)
    clock.advance(seconds=1.5)  # a recorded_at with microseconds
    add_entries(session, clock, 2, object_type="agreement")
    seal_all(session, clock=clock, signer=signer, checkpoint_every=4)
    rows = session.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq)).all()
    assert len(rows) >= 9
    prev = "0" * 64  # "the first entry's prev_hash is 64 zeros"
    for expected_seq, row in enumerate(rows, start=1):
        assert row.seq == expected_seq
        assert row.prev_hash == prev
        assert row.entry_hash == _documented_hash(row, row.seq, prev), row.seq
        prev = row.entry_hash


def test_a_checkpoint_states_exactly_the_documented_fields(session, clock, signer):
    add_entries(session, clock, 5)
    seal_all(session, clock=clock, signer=signer, checkpoint_every=5)
    checkpoints = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
    assert checkpoints
    for checkpoint in checkpoints:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.seq == checkpoint.seq))
        assert _payload(checkpoint.signature) == {
            "seq": checkpoint.seq, "head_hash": entry.entry_hash,
            "created_at": _stamp(checkpoint.created_at), "log": "aifi-registry-audit"}


def test_an_instant_is_stamped_in_utc_whatever_zone_it_comes_in(monkeypatch):
    """The same instant hashes the same on SQLite and PostgreSQL, whatever zone a driver or the
    process hands it in; here the process's own zone is not UTC either."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        instant = datetime(2026, 6, 1, 10, 0, 0, 250, tzinfo=timezone.utc)
        for zone in (timezone.utc, timezone(timedelta(0)), ZoneInfo("Europe/Amsterdam"),
                     timezone(timedelta(hours=-5, minutes=-30))):
            assert utc_stamp(instant.astimezone(zone)) == "2026-06-01T10:00:00.000250Z", zone
    finally:
        monkeypatch.undo()
        time.tzset()
