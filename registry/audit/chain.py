"""The hash chain and its sequencer (as a Certificate Transparency log does it).

Services write audit entries *unsealed* in their own transaction (``entries.append_entry``), so
the decision path never waits for a chain-wide lock. A single sequencer then seals them in order,
in batches: it takes an exclusive lock, reads the head, gives every unsealed entry the next
``seq``, the previous entry's hash and its own hash, and from time to time signs a checkpoint.

Order in the chain is *seal* order, not insert order. On PostgreSQL ids come from a sequence at
insert time, so a transaction holding id 7 may commit after id 8 has been sealed; id 7 is then
sealed next with a higher ``seq``. That is fine as long as nothing is ever sealed twice, which the
``sealed`` flag, the lock and the unique constraint on ``seq`` guarantee together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from registry.clock import Clock
from registry.db.audit import AuditCheckpoint, AuditEntry

# The prev_hash of the very first entry.
GENESIS_HASH = "0" * 64
# The JWS "typ" of a signed checkpoint, so that it can never pass for a bundle or a decision.
CHECKPOINT_TYP = "aifi-audit-checkpoint+jws"
# Any constant shared by all instances; the advisory lock is per database.
_SEALER_LOCK_KEY = 0x41_49_46_49_5F_41_55_44  # "AIFI_AUD"

# The NEN 7513 content of an entry, in the order it is documented; all of it is hashed.
HASHED_FIELDS = ("event_id", "recorded_at", "event_type", "action_code", "outcome", "actor",
                 "actor_role", "on_behalf_of_id", "purpose_of_use", "network_access_point",
                 "source_system", "object_type", "object_id", "objects", "checks", "detail")
# Columns the sequencer and the verifier read: the hashed content plus the chain's own fields.
CHAIN_COLUMNS = [AuditEntry.__table__.c[name] for name in
                 ("id", *HASHED_FIELDS, "seq", "prev_hash", "entry_hash")]


def utc_stamp(value: datetime) -> str:
    """Fixed precision and zone (``2026-06-01T10:00:00.000000Z``): PostgreSQL and SQLite must
    hash the same instant identically."""
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # cheaper than strftime


def _canonical(content: dict[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no white space, UTF-8 (the bytes of
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` for this content,
    which holds only strings, integers, booleans, None, lists and objects). orjson makes it about
    five times cheaper; verification runs it once per entry, a million times and more."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def entry_hash(row: Any, seq: int, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the entry's NEN 7513 fields, its ``seq`` and the
    previous entry's hash. ``row`` is an ``AuditEntry`` or a row with the same attributes."""
    return content_hash({name: getattr(row, name) for name in HASHED_FIELDS}, seq, prev_hash)


def content_hash(content: dict[str, Any], seq: int, prev_hash: str) -> str:
    """``entry_hash`` for the ``HASHED_FIELDS`` given as a dict (which it completes in place)."""
    content["recorded_at"] = utc_stamp(content["recorded_at"])
    content["seq"] = seq
    content["prev_hash"] = prev_hash
    return hashlib.sha256(_canonical(content)).hexdigest()


def checkpoint_statement(seq: int, head_hash: str, created_at: datetime) -> dict[str, Any]:
    """What a checkpoint's JWS signs: enough for an outsider to pin the log at ``seq``."""
    return {"seq": seq, "head_hash": head_hash, "created_at": utc_stamp(created_at),
            "log": "aifi-registry-audit"}


@dataclass
class SealResult:
    sealed: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    checkpoints: list[AuditCheckpoint] = field(default_factory=list)


def lock_sequencer(session: Session) -> None:
    """Only one sealer at a time across all instances.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback. SQLite: the
    engine starts every transaction with BEGIN IMMEDIATE, so this transaction already holds the
    database's only write lock; touching the database here makes sure it has begun.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEALER_LOCK_KEY})
    else:
        session.execute(text("SELECT 1"))


def head(session: Session) -> tuple[int, str]:
    """The chain's head (seq, hash). After pruning with nothing sealed since, the newest
    checkpoint still carries it; an empty log starts from the genesis hash."""
    row = session.execute(select(AuditEntry.seq, AuditEntry.entry_hash)
                          .where(AuditEntry.seq.is_not(None))
                          .order_by(AuditEntry.seq.desc()).limit(1)).first()
    checkpoint = latest_checkpoint(session)
    if row is not None and (checkpoint is None or row[0] >= checkpoint.seq):
        return row[0], row[1]
    if checkpoint is not None:
        return checkpoint.seq, checkpoint.head_hash
    return 0, GENESIS_HASH


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))


def _sign_checkpoint(session: Session, *, signer: Any, seq: int, head_hash: str,
                     at: datetime) -> AuditCheckpoint:
    jws = signer.sign(checkpoint_statement(seq, head_hash, at), typ=CHECKPOINT_TYP)
    checkpoint = AuditCheckpoint(seq=seq, head_hash=head_hash, created_at=at, kid=signer.kid,
                                 signature=jws)
    session.add(checkpoint)
    return checkpoint


def seal_pending(session: Session, *, clock: Clock, signer: Any = None, batch: int = 5000,
                 checkpoint_every: int | None = None,
                 checkpoint_minutes: float | None = None) -> SealResult:
    """Seal up to ``batch`` unsealed entries, oldest id first, and sign the checkpoints that fall
    due: one every ``checkpoint_every`` entries, and one at the head when the newest checkpoint is
    older than ``checkpoint_minutes`` (both only when a ``signer`` is given). Flushes; the caller
    commits, which also releases the sequencer lock."""
    lock_sequencer(session)
    seq, prev = head(session)
    now = clock.now()
    result = SealResult(head_seq=seq, head_hash=prev)
    last = latest_checkpoint(session)
    last_cp_seq = last.seq if last is not None else 0
    pending = session.execute(select(*CHAIN_COLUMNS).where(AuditEntry.sealed.is_(False))
                              .order_by(AuditEntry.id).limit(batch)).all()
    updates = []
    for row in pending:
        seq += 1
        digest = entry_hash(row, seq, prev)
        updates.append({"row_id": row.id, "new_seq": seq, "prev": prev, "digest": digest})
        prev = digest
        if signer is not None and checkpoint_every and seq - last_cp_seq >= checkpoint_every:
            result.checkpoints.append(_sign_checkpoint(session, signer=signer, seq=seq,
                                                       head_hash=digest, at=now))
            last_cp_seq = seq
    if updates:
        # The WHERE on ``sealed`` is the backstop against sealing twice: rowcount must match.
        table = AuditEntry.__table__
        res = session.connection().execute(
            table.update().where(table.c.id == bindparam("row_id"), table.c.sealed.is_(False))
            .values(seq=bindparam("new_seq"), prev_hash=bindparam("prev"),
                    entry_hash=bindparam("digest"), sealed=True),
            updates)
        if res.dialect.supports_sane_multi_rowcount and res.rowcount != len(updates):
            raise RuntimeError("audit entries were sealed by someone else while the sequencer "
                               "held the lock; refusing to continue")
    result.sealed, result.head_seq, result.head_hash = len(updates), seq, prev
    if (signer is not None and checkpoint_minutes is not None and seq > last_cp_seq
            and (last is None or now - last.created_at >= timedelta(minutes=checkpoint_minutes))
            and not result.checkpoints):
        result.checkpoints.append(_sign_checkpoint(session, signer=signer, seq=seq,
                                                   head_hash=prev, at=now))
    session.flush()
    return result


def seal_all(session: Session, *, clock: Clock, signer: Any = None, batch: int = 5000,
             checkpoint_every: int | None = None) -> SealResult:
    """Seal until nothing is pending (within this one transaction)."""
    total = SealResult()
    while True:
        step = seal_pending(session, clock=clock, signer=signer, batch=batch,
                            checkpoint_every=checkpoint_every)
        total.sealed += step.sealed
        total.head_seq, total.head_hash = step.head_seq, step.head_hash
        total.checkpoints += step.checkpoints
        if step.sealed < batch:
            return total


def checkpoint_now(session: Session, *, clock: Clock, signer: Any) -> AuditCheckpoint:
    """Seal what is pending and sign a checkpoint at the head (on demand). If the head already
    has a checkpoint, that one is returned: a seq has exactly one signed statement."""
    seal_all(session, clock=clock)
    seq, digest = head(session)
    existing = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.seq == seq))
    if existing is not None:
        return existing
    checkpoint = _sign_checkpoint(session, signer=signer, seq=seq, head_hash=digest,
                                  at=clock.now())
    session.flush()
    return checkpoint
