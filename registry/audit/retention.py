"""Retention: drop whole checkpoint-bounded segments once they are older than the period.

Only entries up to a signed checkpoint go, and the checkpoints themselves stay, so the kept part
of the chain is still anchored: verification starts from that checkpoint's head hash. NEN 7513
and the EU AI Act (Art. 26(6)) ask for at least six months; the settings refuse less than 183 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry.audit.chain import lock_sequencer
from registry.clock import Clock
from registry.db.audit import AuditCheckpoint, AuditEntry

MIN_RETENTION_DAYS = 183


@dataclass(frozen=True)
class PruneResult:
    up_to_seq: int | None
    removed: int


def prune_expired(session: Session, *, clock: Clock, retention_days: int) -> PruneResult:
    """Remove the sealed entries up to the newest checkpoint signed before the cut-off.

    A checkpoint is signed after every entry it covers was recorded, so a checkpoint older than
    the cut-off covers only entries older than it. Flushes; the caller commits.
    """
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"audit entries are kept at least {MIN_RETENTION_DAYS} days")
    cutoff = clock.now() - timedelta(days=retention_days)
    # The sequencer lock: no sealing (and so no head read) while the start of the chain moves.
    lock_sequencer(session)
    checkpoint = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.created_at < cutoff)
                                .order_by(AuditCheckpoint.seq.desc()).limit(1))
    if checkpoint is None:
        return PruneResult(None, 0)
    segment = AuditEntry.seq <= checkpoint.seq
    newest = session.scalar(select(func.max(AuditEntry.recorded_at)).where(segment))
    if newest is not None and newest >= cutoff:  # pragma: no cover - a clock set backwards
        raise RuntimeError("a checkpointed entry is newer than its checkpoint; not pruning")
    removed = session.execute(delete(AuditEntry).where(segment)).rowcount
    session.flush()
    return PruneResult(checkpoint.seq, removed)
