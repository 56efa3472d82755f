"""``registry audit …``: seal, checkpoint, verify, prune and export the audit trail."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from registry.actor import Actor
from registry.clock import SystemClock


def _context():  # noqa: ANN202
    """Settings, a session and the signing key, the way the rest of the CLI builds them."""
    from registry.cli import _engine, _session, _settings
    from registry.keys import load_or_create

    settings = _settings()
    return settings, _session(_engine(settings)), load_or_create(settings.signing_key_dir)


@click.group()
def audit() -> None:
    """The tamper-evident audit trail (NEN 7513)."""


@audit.command("seal")
@click.option("--every", type=float, default=0, help="keep sealing every N seconds (a sidecar)")
def seal(every: float) -> None:
    """Seal pending entries into the hash chain, signing the checkpoints that fall due."""
    from registry.services.audit import seal_entries

    settings, session, signer = _context()
    try:
        while True:
            step = seal_entries(session, actor=Actor.system("cli"), clock=SystemClock(),
                                signer=signer, checkpoint_every=settings.audit_checkpoint_every,
                                checkpoint_minutes=settings.audit_checkpoint_minutes)
            session.commit()  # one transaction per batch: the sequencer lock is held briefly
            if step.sealed:
                click.echo(f"sealed {step.sealed}; head {step.head_seq} {step.head_hash}")
            if step.sealed == 0 and every <= 0:
                break
            if step.sealed == 0:
                time.sleep(every)
    finally:
        session.close()


@audit.command("checkpoint")
def checkpoint() -> None:
    """Seal what is pending and sign a checkpoint at the head now."""
    from registry.services.audit import checkpoint_view, create_checkpoint

    _settings, session, signer = _context()
    try:
        cp = create_checkpoint(session, actor=Actor.system("cli"), clock=SystemClock(), signer=signer)
        session.commit()
        click.echo(json.dumps(checkpoint_view(cp), indent=2))
    finally:
        session.close()


@audit.command("verify")
@click.option("--checkpoints", "kept_file", type=click.Path(exists=True, dir_okay=False),
              help="a JSON list of checkpoint JWSs kept elsewhere (or the checkpoints endpoint's answer)")
@click.option("--workers", type=int, default=min(os.cpu_count() or 1, 8), show_default=True,
              help="processes that hash in parallel (large logs only)")
def verify(kept_file: str | None, workers: int) -> None:
    """Recompute the chain and check every checkpoint; exit 1 at the first mismatch."""
    from registry.services.audit import verify_audit_trail

    kept: list[str] = []
    if kept_file:
        data = json.loads(Path(kept_file).read_text())
        kept = [c["jws"] if isinstance(c, dict) else c
                for c in (data["checkpoints"] if isinstance(data, dict) else data)]
    settings, session, signer = _context()
    started = time.perf_counter()
    try:
        report = verify_audit_trail(session, actor=Actor.system("cli"), clock=SystemClock(),
                                    signer=signer, checkpoint_every=settings.audit_checkpoint_every,
                                    retention_days=settings.audit_retention_days,
                                    kept_checkpoints=kept, workers=workers)
        session.commit()
    finally:
        session.close()
    out = report.as_dict() | {"seconds": round(time.perf_counter() - started, 2)}
    click.echo(json.dumps(out, indent=2))
    sys.exit(0 if report.ok else 1)


@audit.command("prune")
def prune() -> None:
    """Drop checkpoint-bounded segments older than REGISTRY_AUDIT_RETENTION_DAYS."""
    from registry.services.audit import prune_audit_trail

    settings, session, _signer = _context()
    try:
        result = prune_audit_trail(session, actor=Actor.system("cli"), clock=SystemClock(),
                                   retention_days=settings.audit_retention_days)
        session.commit()
    finally:
        session.close()
    click.echo(json.dumps({"up_to_seq": result.up_to_seq, "removed": result.removed}))


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "fhir"]), default="jsonl")
@click.option("--from", "since", default="", help="first day, YYYY-MM-DD (Amsterdam)")
@click.option("--to", "until", default="", help="last day, YYYY-MM-DD (Amsterdam)")
def export(fmt: str, since: str, until: str) -> None:
    """Write the (sealed) entries to standard output."""
    from registry.services.audit import export_entries, filter_from_params

    settings, session, signer = _context()
    try:
        _media, body = export_entries(session, actor=Actor.system("cli"), clock=SystemClock(),
                                      signer=signer, filters=filter_from_params({"from": since, "to": until}),
                                      fmt=fmt, checkpoint_every=settings.audit_checkpoint_every)
        session.commit()
    finally:
        session.close()
    click.echo(body, nl=False)
