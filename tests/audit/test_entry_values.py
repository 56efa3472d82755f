"""The columns of an unsealed entry as the bulk inserts name them (registry/audit/entries.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from registry.actor import Actor
from registry.audit.entries import ENTRY_KEYS, UPDATE, entry_values
from registry.db.audit import AuditEntry


def test_entry_keys_are_the_columns_entry_values_gives_and_all_are_columns():
    values = entry_values(actor=Actor.system("probe"), at=datetime(2026, 11, 30, tzinfo=timezone.utc),
                          event_type="usage", action_code=UPDATE, outcome="success",
                          object_type="decision", object_id="d-1")
    # A key added to entry_values but not to ENTRY_KEYS would be dropped by a usage batch's COPY.
    assert tuple(values) == ENTRY_KEYS
    assert set(ENTRY_KEYS) <= set(AuditEntry.__table__.columns.keys())
