"""When checkpoints are signed: every N entries, after T minutes, and on demand (once per head)."""

from __future__ import annotations

from sqlalchemy import select

from registry.audit.chain import checkpoint_now, head, seal_pending
from registry.db.audit import AuditCheckpoint
from tests.audit.conftest import add_entries


def _seqs(session) -> list[int]:
    return list(session.scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))


def test_every_n_entries_lands_on_multiples(session, clock, signer):
    add_entries(session, clock, 3)
    seal_pending(session, clock=clock, signer=signer, checkpoint_every=4)
    seqs = _seqs(session)
    assert seqs and all(s % 4 == 0 for s in seqs)
    assert seqs[-1] == head(session)[0] // 4 * 4


def test_after_t_minutes_at_the_head(session, clock, signer):
    seal_pending(session, clock=clock, signer=signer, checkpoint_minutes=60)
    first = _seqs(session)
    assert first == [head(session)[0]]  # no checkpoint yet: one at the head at once
    add_entries(session, clock, 2)
    clock.advance(minutes=30)
    seal_pending(session, clock=clock, signer=signer, checkpoint_minutes=60)
    assert _seqs(session) == first  # too soon
    clock.advance(minutes=31)
    seal_pending(session, clock=clock, signer=signer, checkpoint_minutes=60)
    assert _seqs(session) == first + [first[0] + 2]
    clock.advance(minutes=61)
    seal_pending(session, clock=clock, signer=signer, checkpoint_minutes=60)
    assert len(_seqs(session)) == 2  # nothing new sealed: nothing to sign


def test_on_demand_is_once_per_head(session, clock, signer):
    first = checkpoint_now(session, clock=clock, signer=signer)
    again = checkpoint_now(session, clock=clock, signer=signer)
    assert again.id == first.id and first.seq == head(session)[0]
    assert first.kid == signer.kid


def test_a_checkpoint_falls_due_exactly_t_minutes_after_the_last(session, clock, signer):
    seal_pending(session, clock=clock, signer=signer, checkpoint_minutes=60)
    first = _seqs(session)
    add_entries(session, clock, 1)
    clock.advance(minutes=60)
    seal_pending(session, clock=clock, signer=signer, checkpoint_minutes=60)
    assert _seqs(session) == first + [first[0] + 1]
