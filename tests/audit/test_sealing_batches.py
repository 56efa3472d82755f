"""Sealing in batches: each pass takes at most ``batch`` entries, oldest first, and ``seal_all``
goes on until nothing is pending, adding up what every pass sealed and signed. The batch bounds
the memory and the length of the transaction's work per pass (docs/audit.md: "a backlog is
sealed batch after batch")."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.audit import chain
from registry.audit.chain import head, seal_all, seal_pending
from registry.db.audit import AuditCheckpoint, AuditEntry
from tests.audit.conftest import add_entries


def _pending(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.sealed.is_(False)))


def test_a_pass_seals_at_most_its_batch_oldest_first(session, clock):
    seal_all(session, clock=clock)
    add_entries(session, clock, 7)
    ids = list(session.scalars(select(AuditEntry.id).where(AuditEntry.sealed.is_(False))
                               .order_by(AuditEntry.id)))
    result = seal_pending(session, clock=clock, batch=3)
    assert result.sealed == 3 and _pending(session) == 4
    sealed_ids = list(session.scalars(select(AuditEntry.id).where(AuditEntry.id.in_(ids),
                                                                 AuditEntry.sealed.is_(True))
                                      .order_by(AuditEntry.seq)))
    assert sealed_ids == ids[:3]
    assert (result.head_seq, result.head_hash) == head(session)


def test_seal_all_goes_batch_by_batch_until_nothing_is_pending(session, clock, signer,
                                                               monkeypatch):
    seal_all(session, clock=clock)
    start = head(session)[0]
    passes: list[int] = []
    real = chain.seal_pending

    def counting(*args, **kwargs):
        step = real(*args, **kwargs)
        passes.append(step.sealed)
        return step

    monkeypatch.setattr(chain, "seal_pending", counting)
    add_entries(session, clock, 6)  # exactly two full batches: a full pass is not the last
    total = seal_all(session, clock=clock, signer=signer, batch=3, checkpoint_every=2)
    assert passes == [3, 3, 0]
    assert _pending(session) == 0
    assert total.sealed == 6
    assert (total.head_seq, total.head_hash) == head(session) and total.head_seq == start + 6
    # The checkpoints of every pass, not only the last one's.
    signed = list(session.scalars(select(AuditCheckpoint.seq).where(AuditCheckpoint.seq > start)
                                  .order_by(AuditCheckpoint.seq)))
    assert len(signed) == 3 and [c.seq for c in total.checkpoints] == signed


def test_an_entry_sealed_behind_the_sequencers_back_stops_the_pass(session, clock, monkeypatch):
    """The sealed flag in the UPDATE's WHERE is the backstop against sealing twice: if anything
    sealed an entry while this pass held the lock (a sealer that ignored it), the pass refuses
    rather than giving that entry a second seq and hash."""
    seal_all(session, clock=clock)
    add_entries(session, clock, 3)
    real, seen = chain.entry_hash, []

    def meddling(row, seq, prev):
        if not seen:  # the first entry of the pass is sealed by "someone else" meanwhile
            session.connection().execute(AuditEntry.__table__.update()
                                         .where(AuditEntry.__table__.c.id == row.id)
                                         .values(sealed=True, seq=10_000_000, prev_hash="x" * 64,
                                                 entry_hash="y" * 64))
        seen.append(row.id)
        return real(row, seq, prev)

    monkeypatch.setattr(chain, "entry_hash", meddling)
    with pytest.raises(RuntimeError) as refused:
        seal_pending(session, clock=clock)
    assert str(refused.value) == ("audit entries were sealed by someone else while the sequencer "
                                  "held the lock; refusing to continue")
    assert session.scalar(select(AuditEntry.seq).where(AuditEntry.id == seen[0])) == 10_000_000
