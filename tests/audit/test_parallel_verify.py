"""Verification split over worker processes finds the same first break as a single pass."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from registry.audit import verify as verify_module
from registry.audit.chain import seal_all
from registry.db.base import make_session_factory
from registry.db.migrate import upgrade
from tests.audit.conftest import add_entries, verify


@pytest.fixture
def committed(fresh_engine, clock, signer, monkeypatch):
    """40 sealed, committed entries (worker processes read through their own connections)."""
    upgrade(fresh_engine)
    sessions = make_session_factory(fresh_engine)
    with sessions() as s:
        add_entries(s, clock, 40)
        seal_all(s, clock=clock, signer=signer, checkpoint_every=5)
        s.commit()
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", 0)
    return sessions


@pytest.mark.parametrize("tamper, seq", [
    (None, None),
    ("UPDATE audit_entries SET outcome = 'denied' WHERE seq = 27", 27),
    ("DELETE FROM audit_entries WHERE seq = 21", 21),  # the first entry of the second range
])
def test_two_workers_agree_with_one(committed, fresh_engine, signer, tamper, seq):
    if tamper:
        with fresh_engine.begin() as conn:
            conn.execute(text(tamper))
    with committed() as s:
        single, parallel = verify(s, signer), verify(s, signer, workers=2)
    assert parallel.ok is single.ok is (tamper is None)
    if tamper:
        assert parallel.failure.seq == single.failure.seq == seq
    else:
        assert (parallel.head_seq, parallel.head_hash) == (single.head_seq, single.head_hash)
        assert parallel.entries_checked == 40
