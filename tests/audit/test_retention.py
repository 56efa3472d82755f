"""Retention prunes whole checkpoint-bounded segments and never breaks verification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from registry.actor import Actor
from registry.audit.chain import CHECKPOINT_TYP, checkpoint_now, checkpoint_statement, seal_all
from registry.db.audit import AuditCheckpoint, AuditEntry
from registry.services.audit import prune_audit_trail, verify_audit_trail
from registry.settings import Settings
from tests.audit.conftest import add_entries, sql, verify
from tests.conftest import DEMO_NOW

SYSTEM = Actor.system("retention-tests")


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def aged(sealed, clock, signer):
    """A sealed log from today, then 200 days later some more entries (and checkpoints)."""
    clock.advance(days=200)
    add_entries(sealed, clock, 7)
    seal_all(sealed, clock=clock, signer=signer, checkpoint_every=5)
    return sealed


def test_prune_keeps_checkpoints_and_verification_starts_from_the_anchor(aged, clock, signer):
    old_checkpoints = _count(aged, AuditCheckpoint)
    # The newest checkpoint signed on the first day: 200 days old, beyond 190 days' retention.
    cutoff_cp = aged.scalar(select(func.max(AuditCheckpoint.seq))
                            .where(AuditCheckpoint.created_at <= DEMO_NOW))
    result = prune_audit_trail(aged, actor=SYSTEM, clock=clock, retention_days=190)
    assert result.up_to_seq == cutoff_cp and result.removed == cutoff_cp
    assert aged.scalar(select(func.min(AuditEntry.seq))) == cutoff_cp + 1
    assert _count(aged, AuditCheckpoint) == old_checkpoints  # signed checkpoints all stay
    seal_all(aged, clock=clock, signer=signer)  # the prune's own D entry
    report = verify(aged, signer, clock=clock, retention_days=190)
    assert report.ok, report.failure
    assert report.anchor_seq == cutoff_cp and report.first_seq == cutoff_cp + 1
    pruned = aged.scalar(select(AuditEntry).where(AuditEntry.event_type == "retention"))
    assert pruned.action_code == "D" and pruned.detail["up_to_seq"] == cutoff_cp


def test_nothing_is_pruned_within_the_retention_period(sealed, clock):
    clock.advance(days=100)
    result = prune_audit_trail(sealed, actor=SYSTEM, clock=clock, retention_days=183)
    assert (result.up_to_seq, result.removed) == (None, 0)
    assert sealed.scalar(select(func.min(AuditEntry.seq))) == 1


def test_removing_recent_entries_up_to_a_checkpoint_is_not_passed_off_as_retention(sealed, clock, signer):
    sql(sealed, "DELETE FROM audit_entries WHERE seq <= 10")  # 10 is a checkpoint, a day old
    clock.advance(days=1)
    report = verify(sealed, signer, clock=clock, retention_days=190)
    assert report.failure.seq == 1
    # It names the range removed too early (the Dutch page's sentence carries that number).
    assert report.failure.reason == "entries 1..10 were removed before their retention period ended"


def test_an_anchor_exactly_as_old_as_the_retention_period_is_retention(sealed, clock, signer):
    """The entries up to a checkpoint signed exactly 190 days ago have been kept 190 days; a
    microsecond less is too early."""
    anchor = sealed.scalar(select(AuditCheckpoint).where(AuditCheckpoint.seq == 10))
    sql(sealed, "DELETE FROM audit_entries WHERE seq <= 10")
    clock.current = anchor.created_at + timedelta(days=190)
    assert verify(sealed, signer, clock=clock, retention_days=190).ok
    clock.advance(microseconds=-1)
    report = verify(sealed, signer, clock=clock, retention_days=190)
    assert report.failure.seq == 1 and "retention" in report.failure.reason


def test_a_pruned_log_verified_without_a_retention_period_is_not_judged_by_one(sealed, clock,
                                                                             signer):
    """The audit service always passes its clock; without a retention period (the API's verify
    when none is configured) a pruned log anchored by a checkpoint is simply verified."""
    sql(sealed, "DELETE FROM audit_entries WHERE seq <= 10")
    report = verify_audit_trail(sealed, actor=SYSTEM, clock=clock, signer=signer)
    assert report.ok, report.failure
    assert report.anchor_seq == 10


def test_pruned_without_an_anchoring_checkpoint_fails(sealed, signer):
    sql(sealed, "DELETE FROM audit_entries WHERE seq <= 7")  # 7 is no checkpoint
    report = verify(sealed, signer)
    assert report.failure.seq == 1 and "no signed checkpoint" in report.failure.reason
    # It names what is gone and where an anchor was needed (the Dutch web page's sentence in
    # registry/web/sentences.py carries that number twice).
    assert report.failure.reason.startswith("entries 1..7 are missing")
    assert report.failure.reason.endswith("anchors seq 7")


def test_a_log_pruned_to_its_head_is_anchored_by_the_newest_checkpoint(sealed, clock, signer):
    """Every sealed entry pruned: the newest checkpoint pins the head and nothing is missing."""
    newest = checkpoint_now(sealed, clock=clock, signer=signer)
    sql(sealed, "DELETE FROM audit_entries")
    report = verify(sealed, signer)
    assert report.ok, report.failure
    assert (report.anchor_seq, report.head_seq, report.head_hash) == (newest.seq, newest.seq,
                                                                      newest.head_hash)
    assert report.entries_checked == 0


def test_sealing_after_a_prune_to_the_head_continues_from_the_newest_checkpoint(sealed, clock,
                                                                              signer):
    """With every entry pruned, the head lives only in the newest checkpoint: the next entry
    takes the following seq and links to the checkpoint's hash, and the log still verifies."""
    newest = checkpoint_now(sealed, clock=clock, signer=signer)
    sql(sealed, "DELETE FROM audit_entries")
    add_entries(sealed, clock, 2)
    seal_all(sealed, clock=clock, signer=signer)
    first = sealed.scalars(select(AuditEntry).order_by(AuditEntry.seq)).first()
    assert (first.seq, first.prev_hash) == (newest.seq + 1, newest.head_hash)
    report = verify(sealed, signer)
    assert report.ok, report.failure
    assert (report.anchor_seq, report.head_seq) == (newest.seq, newest.seq + 2)


def test_a_log_pruned_after_its_first_entry_is_anchored_at_seq_1(sealed, clock, signer):
    """The smallest prune there is: a checkpoint at seq 1 (here one an outsider kept) anchors it."""
    first = sealed.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == 1))
    kept = signer.sign(checkpoint_statement(1, first, clock.now()), typ=CHECKPOINT_TYP)
    sql(sealed, "DELETE FROM audit_entries WHERE seq = 1")
    report = verify(sealed, signer, kept_checkpoints=[kept])
    assert report.ok, report.failure
    assert (report.anchor_seq, report.first_seq) == (1, 2)


def test_retention_is_at_least_six_months(session, clock):
    with pytest.raises(ValidationError):
        Settings(audit_retention_days=182)
    with pytest.raises(ValueError):
        prune_audit_trail(session, actor=SYSTEM, clock=clock, retention_days=30)
