"""Each way of rewriting the log makes verification fail at the entry where it happened."""

from __future__ import annotations

from sqlalchemy import func, select

from registry.audit import verify as verify_module
from registry.audit.chain import checkpoint_now, checkpoint_statement, entry_hash, head
from registry.audit.verify import public_keys
from registry.db.audit import AuditCheckpoint, AuditEntry
from tests.audit.conftest import sql, verify


def _head_seq(session) -> int:
    return head(session)[0]


def test_untouched_log_verifies(sealed, signer):
    report = verify(sealed, signer)
    assert report.ok, report.failure
    assert report.failure is None
    assert report.entries_checked == _head_seq(sealed) > 12
    assert report.checkpoints_checked == sealed.scalar(select(func.count(AuditCheckpoint.id))) >= 2
    assert report.first_seq == 1 and report.anchor_seq is None
    # The report says which keys it trusted: the registry's, old and current.
    assert report.key_ids == sorted(public_keys(sealed, signer)) and signer.kid in report.key_ids


def test_a_log_longer_than_one_page_is_verified_to_its_end(sealed, signer, monkeypatch):
    """Entries are read a page at a time; a page size of 5 stands in for the real one."""
    monkeypatch.setattr(verify_module, "_PAGE", 5)
    last = _head_seq(sealed)
    report = verify(sealed, signer)
    assert (report.ok, report.entries_checked, report.head_seq) == (True, last, last)
    sql(sealed, "UPDATE audit_entries SET outcome = 'denied' WHERE seq = :seq", seq=last - 1)
    assert verify(sealed, signer).failure.seq == last - 1


def test_every_entry_is_sealed_in_one_chain(sealed):
    rows = sealed.execute(select(AuditEntry.seq, AuditEntry.prev_hash, AuditEntry.entry_hash)
                          .order_by(AuditEntry.seq)).all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert all(b.prev_hash == a.entry_hash for a, b in zip(rows, rows[1:]))
    assert sealed.scalar(select(func.count()).where(AuditEntry.sealed.is_(False))) == 0


def test_changed_field_fails_at_that_entry(sealed, signer):
    sql(sealed, "UPDATE audit_entries SET outcome = 'denied' WHERE seq = 7")
    report = verify(sealed, signer)
    assert not report.ok
    assert report.failure.seq == 7
    assert "content" in report.failure.reason
    # Named by its event id too, for whoever investigates (as an entry that no longer links is).
    assert report.failure.event_id == sealed.scalar(select(AuditEntry.event_id)
                                                    .where(AuditEntry.seq == 7))


def test_changed_json_field_fails_at_that_entry(sealed, signer):
    entry = sealed.scalar(select(AuditEntry).where(AuditEntry.seq == 9))
    entry.detail = {**entry.detail, "smuggled": True}
    sealed.flush()
    assert verify(sealed, signer).failure.seq == 9


def test_deleted_entry_fails_at_its_place(sealed, signer):
    sql(sealed, "DELETE FROM audit_entries WHERE seq = 4")
    report = verify(sealed, signer)
    assert report.failure.seq == 4
    assert "missing" in report.failure.reason


def test_deleted_first_entry_fails_at_one(sealed, signer):
    sql(sealed, "DELETE FROM audit_entries WHERE seq = 1")
    assert verify(sealed, signer).failure.seq == 1


def test_inserted_entry_fails_after_it(sealed, signer):
    """A forger shifts the later entries up and slips in a well-formed entry at seq 6: its own
    hash is right, but the entry after it no longer links."""
    sql(sealed, "UPDATE audit_entries SET seq = -(seq + 1) WHERE seq > 5")
    sql(sealed, "UPDATE audit_entries SET seq = -seq WHERE seq < 0")
    fifth = sealed.scalar(select(AuditEntry).where(AuditEntry.seq == 5))
    forged = AuditEntry(**{c: getattr(fifth, c) for c in (
        "recorded_at", "event_type", "action_code", "outcome", "actor", "actor_role",
        "object_type", "object_id", "objects", "checks", "detail")},
        event_id="00000000-0000-0000-0000-000000000000", sealed=True, seq=6,
        prev_hash=fifth.entry_hash)
    forged.source_system, forged.purpose_of_use, forged.network_access_point = "aifi-registry", "", ""
    forged.entry_hash = entry_hash(forged, 6, fifth.entry_hash)
    sealed.add(forged)
    sealed.flush()
    report = verify(sealed, signer)
    assert report.failure.seq == 7
    assert "prev_hash" in report.failure.reason
    # The failure names the entry that no longer links, for whoever investigates.
    assert report.failure.event_id == sealed.scalar(select(AuditEntry.event_id).where(AuditEntry.seq == 7))


def test_reordered_entries_fail_at_the_first(sealed, signer):
    sql(sealed, "UPDATE audit_entries SET seq = -1 WHERE seq = 8")
    sql(sealed, "UPDATE audit_entries SET seq = 8 WHERE seq = 9")
    sql(sealed, "UPDATE audit_entries SET seq = 9 WHERE seq = -1")
    assert verify(sealed, signer).failure.seq == 8


def test_rehashed_rewrite_is_caught_by_the_signed_checkpoint(sealed, signer):
    """A forger who recomputes every hash after a change still disagrees with the checkpoint."""
    rows = sealed.scalars(select(AuditEntry).where(AuditEntry.seq >= 3).order_by(AuditEntry.seq))
    prev = sealed.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == 2))
    for row in rows:
        if row.seq == 3:
            row.outcome = "denied"
        row.prev_hash, row.entry_hash = prev, entry_hash(row, row.seq, prev)
        prev = row.entry_hash
    sealed.flush()
    report = verify(sealed, signer)
    assert report.failure.seq == 5  # the first checkpoint (every 5) after the change
    assert "checkpoint" in report.failure.reason


def test_truncated_tail_fails_at_the_first_missing_entry(sealed, clock, signer):
    checkpoint_now(sealed, clock=clock, signer=signer)
    last = _head_seq(sealed)
    sql(sealed, "DELETE FROM audit_entries WHERE seq > :keep", keep=last - 3)
    report = verify(sealed, signer)
    assert report.failure.seq == last - 2
    assert "missing" in report.failure.reason


def test_truncated_tail_with_its_checkpoints_is_caught_by_kept_checkpoints(sealed, clock, signer):
    """The outsider's copy of the newest checkpoint still proves the tail existed."""
    kept = checkpoint_now(sealed, clock=clock, signer=signer).signature
    last = _head_seq(sealed)
    sql(sealed, "DELETE FROM audit_entries WHERE seq > :keep", keep=last - 2)
    sql(sealed, "DELETE FROM audit_checkpoints WHERE seq > :keep", keep=last - 2)
    assert verify(sealed, signer).ok  # nothing left inside the registry shows it …
    assert verify(sealed, signer, kept_checkpoints=[kept]).failure.seq == last - 1  # … but this does


def test_forged_checkpoint_signature_fails(sealed, signer, tmp_path):
    from registry.keys import load_or_create

    other = load_or_create(tmp_path / "someone-else")
    checkpoint = sealed.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq).limit(1))
    checkpoint.signature = other.sign({"seq": checkpoint.seq, "head_hash": checkpoint.head_hash},
                                      typ="aifi-audit-checkpoint+jws")
    sealed.flush()
    report = verify(sealed, signer)
    assert report.failure.seq == checkpoint.seq
    # The key is named: whoever investigates must tell a stranger's key from one of ours that is
    # missing from signing_keys.
    assert f"unknown key {other.kid!r}" in report.failure.reason
    # One bad checkpoint does not stop the others from being checked.
    assert report.checkpoints_checked == sealed.scalar(select(func.count(AuditCheckpoint.id)))


def test_a_kept_checkpoint_that_does_not_verify_fails_the_report_at_no_entry(sealed, signer,
                                                                              tmp_path):
    """An outsider's kept checkpoint signed by a key not ours is refused. It has no row, so its
    failure is placed before every entry (seq 0) rather than blamed on entry 1."""
    from registry.keys import load_or_create

    stranger = load_or_create(tmp_path / "someone-else")
    seq, digest = head(sealed)
    kept = stranger.sign({"seq": seq, "head_hash": digest}, typ="aifi-audit-checkpoint+jws")
    report = verify(sealed, signer, kept_checkpoints=[kept])
    assert not report.ok
    assert report.failure.seq == 0
    assert f"unknown key {stranger.kid!r}" in report.failure.reason


def test_a_statement_our_key_signed_for_another_purpose_does_not_pass_for_a_checkpoint(sealed,
                                                                                      signer):
    """The registry's key also signs bundles and decisions; only the JWS "typ" tells a checkpoint
    apart. The same true statement under another typ is refused, and the reason says why."""
    checkpoint = sealed.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq).limit(1))
    statement = checkpoint_statement(checkpoint.seq, checkpoint.head_hash, checkpoint.created_at)
    checkpoint.signature = signer.sign(statement, typ="aifi-bundle+jwt")
    sealed.flush()
    report = verify(sealed, signer)
    assert report.failure.seq == checkpoint.seq
    assert report.failure.reason.endswith(": not an audit checkpoint")


def test_checkpoint_column_changed_fails(sealed, signer):
    sql(sealed, "UPDATE audit_checkpoints SET head_hash = :h WHERE seq = 10", h="f" * 64)
    failure = verify(sealed, signer).failure
    assert failure.seq == 10
    assert "its columns differ from what its signature states" in failure.reason


def test_the_earliest_break_is_reported_and_the_first_found_of_a_seq_stays():
    from registry.audit.verify import Failure, VerifyReport

    report = VerifyReport()
    report.fail(Failure(9, "found first at 9"))
    report.fail(Failure(12, "later in the log"))
    assert report.failure.reason == "found first at 9"
    report.fail(Failure(9, "found second at 9"))  # what follows from the first break, not the cause
    assert report.failure.reason == "found first at 9"
    report.fail(Failure(4, "earlier in the log"))
    assert (report.ok, report.failure.reason) == (False, "earlier in the log")
