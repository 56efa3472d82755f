"""Benchmark: verify a sealed audit trail of 1,000,000 entries on SQLite.

    .venv/bin/python bench/audit_verify.py [--entries 1000000] [--db /tmp/audit-bench.db]

Builds the log directly (bulk inserts of already-sealed rows, a signed checkpoint every 1000),
then times ``verify_chain``, the same check as ``registry audit verify``. Not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from registry.audit.chain import CHECKPOINT_TYP, GENESIS_HASH, checkpoint_statement, entry_hash  # noqa: E402
from registry.audit.verify import public_keys, verify_chain  # noqa: E402
from registry.db.audit import AuditCheckpoint, AuditEntry  # noqa: E402
from registry.db.base import make_engine, make_session_factory  # noqa: E402
from registry.db.migrate import upgrade  # noqa: E402
from registry.keys import load_or_create  # noqa: E402

CHUNK = 50_000


class _Row:
    """Attribute access for ``entry_hash`` over a plain dict."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def _entry(i: int, at: datetime) -> dict:
    decision = str(uuid.UUID(int=i))
    return {"event_id": str(uuid.UUID(int=(1 << 64) + i)), "recorded_at": at,
            "event_type": "decision", "action_code": "E", "outcome": "success" if i % 7 else "denied",
            "actor": f"gateway:gw-{i % 40}", "actor_role": "gateway", "on_behalf_of_id": i % 40 + 1,
            "purpose_of_use": "clinical-care", "network_access_point": "10.0.0.1",
            "source_system": "aifi-registry", "object_type": "decision", "object_id": decision,
            "objects": [{"type": "decision", "id": decision}, {"type": "tool", "id": "bonexpert"},
                        {"type": "study", "id": f"study-{i}", "sensitivity": "opaque-key"}],
            "checks": {"authorisation": "permit", "consent": "no-objection", "reasons": []},
            "detail": {"outcome": "permit", "dry_run": False, "evaluated_on": "2026-06-01",
                       "policy_version": "sha256:abc"}, "sealed": True}


def build(engine, n: int, signer, every: int = 1000) -> None:
    start = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
    prev, rows, checkpoints = GENESIS_HASH, [], []
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            at = start + timedelta(milliseconds=37 * seq)
            values = _entry(seq, at)
            # Hash what the database will hand back: SQLite keeps microseconds, UTC.
            digest = entry_hash(_Row(values), seq, prev)
            values.update(seq=seq, prev_hash=prev, entry_hash=digest)
            rows.append(values)
            prev = digest
            if seq % every == 0:
                checkpoints.append({"seq": seq, "head_hash": digest, "created_at": at, "kid": signer.kid,
                                    "signature": signer.sign(checkpoint_statement(seq, digest, at),
                                                             typ=CHECKPOINT_TYP)})
            if len(rows) == CHUNK:
                conn.execute(insert(AuditEntry), rows)
                rows = []
        if rows:
            conn.execute(insert(AuditEntry), rows)
        conn.execute(insert(AuditCheckpoint), checkpoints)


def _cpu() -> float:
    # CPU time of this process and its finished workers: on a shared machine the wall clock
    # mostly measures the neighbours, this measures the verification.
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reuse", action="store_true", help="verify --db as it is, without building")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    path = args.db or workdir / "audit.db"
    keys_dir = path.parent / "keys" if args.db else workdir / "keys"
    if not args.reuse:
        path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    signer = load_or_create(keys_dir)
    built = 0.0
    if not args.reuse:
        upgrade(engine)
        t0 = time.perf_counter()
        build(engine, args.entries, signer)
        built = time.perf_counter() - t0
    with make_session_factory(engine)() as session:
        t1, cpu1 = time.perf_counter(), _cpu()
        report = verify_chain(session, keys=public_keys(session, signer), workers=args.workers)
        took, cpu = time.perf_counter() - t1, _cpu() - cpu1
    print(f"built {args.entries:,} entries in {built:.1f}s; {args.workers} worker(s) verified "
          f"{report.entries_checked:,} entries and {report.checkpoints_checked:,} checkpoints in {took:.1f}s "
          f"({args.entries / took:,.0f} entries/s), {cpu:.1f} CPU-s in all; ok={report.ok}")
    if not report.ok:
        print(report.failure)
        sys.exit(1)


if __name__ == "__main__":
    main()
