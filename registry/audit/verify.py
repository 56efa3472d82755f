"""Verification: recompute the hash chain and check every signed checkpoint against it.

Anyone holding the checkpoints (``GET /api/v1/audit/checkpoints``) and the registry's public keys
(the JWKS) can run the same checks later and prove the log was not rewritten since: a changed,
deleted, inserted or reordered entry breaks the chain from that entry on, and a truncated tail
falls short of the newest checkpoint.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from multiprocessing import get_context
from typing import Any, Iterable

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from sqlalchemy import Connection, Text, cast, create_engine, func, literal, select
from sqlalchemy.orm import Session

from registry.audit.chain import (CHECKPOINT_TYP, GENESIS_HASH, HASHED_FIELDS,
                                  content_hash, utc_stamp)
from registry.clock import Clock
from registry.db.audit import AuditCheckpoint, AuditEntry
from registry.db.oauth import SigningKey as SigningKeyRow
from registry.keys import ALGORITHM

# Rows read per query: keyset pages keep memory flat for a log of any length.
_PAGE = 20000
# Below this many entries, starting worker processes costs more than it saves.
PARALLEL_FROM = 50_000


@dataclass(frozen=True)
class Failure:
    seq: int
    reason: str
    event_id: str | None = None


@dataclass
class VerifyReport:
    ok: bool = True
    entries_checked: int = 0
    checkpoints_checked: int = 0
    first_seq: int | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    # The signed checkpoint verification starts from when older entries were pruned.
    anchor_seq: int | None = None
    failure: Failure | None = None
    key_ids: list[str] = field(default_factory=list)

    def fail(self, failure: Failure) -> None:
        # Report the earliest break: everything after it follows from it.
        if self.failure is None or failure.seq < self.failure.seq:
            self.failure = failure
        self.ok = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def public_keys(session: Session, signer: Any = None) -> dict[str, OKPKey]:
    """The registry's public keys by kid: every key recorded in ``signing_keys`` (so checkpoints
    signed before a key rotation still verify) and the current signer's."""
    keys: dict[str, OKPKey] = {}
    for row in session.scalars(select(SigningKeyRow)):
        keys[row.kid] = OKPKey.import_key(json.loads(row.public_jwk))
    if signer is not None:
        keys.setdefault(signer.kid, OKPKey.import_key(signer.public_jwk()))
    return keys


@dataclass(frozen=True)
class _Pin:
    """A checkpoint whose signature checked out: the log's head at ``seq`` was ``head_hash``."""

    seq: int
    head_hash: str
    created_at: str
    label: str


def read_checkpoint(token: str, keys: dict[str, OKPKey]) -> _Pin:
    """Check a checkpoint's JWS and return what it states; ``ValueError`` when it does not
    verify. Only ``Ed25519`` is accepted: we never signed checkpoints with anything else."""
    try:
        header = jws.extract_compact(token.encode()).headers()
        key = keys.get(header.get("kid", ""))
        if key is None:
            raise ValueError(f"signed with an unknown key {header.get('kid')!r}")
        if header.get("typ") != CHECKPOINT_TYP:
            raise ValueError("not an audit checkpoint")
        statement = json.loads(jws.deserialize_compact(token, key, algorithms=[ALGORITHM]).payload)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"signature does not verify: {exc}") from None
    return _Pin(int(statement["seq"]), str(statement["head_hash"]), str(statement["created_at"]),
                f"checkpoint {statement['seq']}")


def _pins(session: Session, keys: dict[str, OKPKey], kept: Iterable[str],
          report: VerifyReport) -> dict[int, list[_Pin]]:
    pins: dict[int, list[_Pin]] = {}
    tokens = [(cp.seq, cp.signature, cp) for cp in
              session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))]
    tokens += [(None, token, None) for token in kept]
    for seq, token, row in tokens:
        report.checkpoints_checked += 1
        try:
            pin = read_checkpoint(token, keys)
        except ValueError as exc:
            report.fail(Failure(seq or 0, f"checkpoint at seq {seq}: {exc}"))
            continue
        if row is not None and (row.seq, row.head_hash) != (pin.seq, pin.head_hash):
            report.fail(Failure(row.seq, f"checkpoint at seq {row.seq}: its columns differ from "
                                         "what its signature states"))
        pins.setdefault(pin.seq, []).append(pin)
    return pins


def verify_chain(session: Session, *, keys: dict[str, OKPKey], kept_checkpoints: Iterable[str] = (),
                 clock: Clock | None = None, retention_days: int | None = None,
                 workers: int = 1) -> VerifyReport:
    """Recompute the chain from its start (the genesis hash, or the signed checkpoint that anchors
    it after pruning) and check every checkpoint: the registry's own and ``kept_checkpoints``
    (compact JWSs an outsider kept). Read-only; seal pending entries first to include them.
    ``workers`` > 1 spreads the hashing over that many processes (the CLI and the benchmark)."""
    report = VerifyReport(key_ids=sorted(keys))
    pins = _pins(session, keys, kept_checkpoints, report)
    first = session.scalar(select(func.min(AuditEntry.seq)).where(AuditEntry.seq.is_not(None)))
    if first is None and pins:
        first = max(pins) + 1  # every sealed entry pruned: the newest checkpoint is the anchor
    prev, expected = GENESIS_HASH, 1
    if first is not None and first > 1:
        # Older entries were pruned: a signed checkpoint must pin the hash they ended with, and
        # (when the retention period is given) it must be older than that period.
        anchor = (pins.get(first - 1) or [None])[0]
        if anchor is None:
            report.fail(Failure(1, f"entries 1..{first - 1} are missing and no signed checkpoint "
                                   f"anchors seq {first - 1}"))
            return report
        cutoff = clock.now() - timedelta(days=retention_days) if clock and retention_days else None
        if cutoff is not None and anchor.created_at > utc_stamp(cutoff):
            report.fail(Failure(1, f"entries 1..{first - 1} were removed before their retention "
                                   "period ended"))
        prev, expected, report.anchor_seq = anchor.head_hash, first, first - 1
    report.first_seq = first
    pinned = frozenset(pins)
    last = session.scalar(select(func.max(AuditEntry.seq))) if workers > 1 else None
    if last is not None and last - expected >= PARALLEL_FROM:
        ranges = _walk_in_parallel(session, expected, last, pinned, workers)
    else:
        ranges = [_walk(session.connection(), expected, None, pinned)]
    for walked in ranges:
        # Ranges are checked apart; here they are joined: each must link to the one before.
        if walked.checked and walked.first_prev != prev:
            report.fail(Failure(walked.lo, "prev_hash does not link to the entry before it"))
        if walked.failure is not None:
            report.fail(walked.failure)
        for seq, digest in sorted(walked.pinned_hashes.items()):
            for pin in pins[seq]:
                if pin.head_hash != digest:
                    report.fail(Failure(seq, f"{pin.label} signed a different head hash"))
        if report.failure is not None:
            return report
        if walked.checked:
            prev, expected = walked.last_hash, walked.last_seq + 1
        report.entries_checked += walked.checked
    report.head_seq, report.head_hash = expected - 1, prev
    beyond = [seq for seq in pins if seq > report.head_seq]
    if beyond:
        report.fail(Failure(expected, f"entries from seq {expected} are missing: a signed "
                                      f"checkpoint covers seq {max(beyond)}"))
    return report


# The three JSON columns are read as one JSON array of their stored texts and parsed here in one
# call: several times cheaper than the JSON type's own result processing, and this is the hot
# loop of a million-entry verification.
_JSON_FIELDS = ("objects", "checks", "detail")
_SCALAR_FIELDS = tuple(name for name in HASHED_FIELDS if name not in _JSON_FIELDS)
_VERIFY_COLUMNS = [AuditEntry.__table__.c[name] for name in (*_SCALAR_FIELDS, "seq", "prev_hash",
                                                              "entry_hash")]
_VERIFY_COLUMNS.append((literal("[") + cast(AuditEntry.objects, Text) + ","
                        + cast(AuditEntry.checks, Text) + "," + cast(AuditEntry.detail, Text)
                        + "]").label("json_fields"))
_SCALARS_END = len(_SCALAR_FIELDS)


@dataclass
class _Walked:
    """What one walk over ``lo..hi`` found: its ends (to join it to its neighbours), the
    entry hashes at checkpointed seqs, and its first failure."""

    lo: int
    first_prev: str | None = None
    last_seq: int = 0
    last_hash: str | None = None
    checked: int = 0
    failure: Failure | None = None
    pinned_hashes: dict[int, str] = field(default_factory=dict)


def _walk(conn: Connection, lo: int, hi: int | None, pinned: frozenset[int]) -> _Walked:
    walked, expected, prev = _Walked(lo=lo), lo, None
    loads = orjson.loads
    while True:
        query = select(*_VERIFY_COLUMNS).where(AuditEntry.seq >= expected)
        if hi is not None:
            query = query.where(AuditEntry.seq <= hi)
        rows = conn.execute(query.order_by(AuditEntry.seq).limit(_PAGE)).all()
        for row in rows:
            if prev is None:
                prev = walked.first_prev = row.prev_hash
            content = dict(zip(_SCALAR_FIELDS, row[:_SCALARS_END]))
            content.update(zip(_JSON_FIELDS, loads(row.json_fields)))
            failure = _check(row, content, expected, prev)
            if failure is not None:
                walked.failure = failure
                return walked
            if row.seq in pinned:
                walked.pinned_hashes[row.seq] = row.entry_hash
            prev, expected = row.entry_hash, expected + 1
            walked.checked += 1
        if len(rows) < _PAGE:
            break
    if hi is not None and expected <= hi:
        walked.failure = Failure(expected, f"entry seq {expected} is missing")
    walked.last_seq, walked.last_hash = expected - 1, prev
    return walked


def _walk_url(url: str, lo: int, hi: int | None, pinned: frozenset[int]) -> _Walked:
    # A plain engine: read-only, so none of the registry engine's BEGIN IMMEDIATE (which would
    # make the workers queue for SQLite's write lock instead of reading side by side).
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return _walk(conn, lo, hi, pinned)
    finally:
        engine.dispose()


def _walk_in_parallel(session: Session, lo: int, last: int, pinned: frozenset[int],
                      workers: int) -> list[_Walked]:
    """Split ``lo..last`` into ranges checked by separate processes (hashing is CPU-bound)."""
    url = session.get_bind().url.render_as_string(hide_password=False)
    step = max(1, (last - lo + 1 + workers - 1) // workers)
    bounds = [(a, a + step - 1) for a in range(lo, last + 1, step)]
    bounds[-1] = (bounds[-1][0], None)  # the last range runs to whatever the end is by then
    with ProcessPoolExecutor(len(bounds), mp_context=get_context("spawn")) as pool:
        return list(pool.map(_walk_url, [url] * len(bounds), *zip(*bounds), [pinned] * len(bounds)))


def _check(row: Any, content: dict[str, Any], expected: int, prev: str) -> Failure | None:
    if row.seq != expected:
        return Failure(expected, f"entry seq {expected} is missing (next is {row.seq})")
    if row.prev_hash != prev:
        return Failure(row.seq, "prev_hash does not link to the entry before it", row.event_id)
    if content_hash(content, row.seq, prev) != row.entry_hash:
        return Failure(row.seq, "content does not match its hash", row.event_id)
    return None
