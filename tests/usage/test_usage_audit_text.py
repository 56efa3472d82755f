"""Each usage event's audit entry is written with its JSON documents as text (services/usage.py,
_usage_audit_row, on the batch path and event by event): the text must be exactly what json.dumps
makes of the entry's documents, for every value a gateway can send, and be stored as that JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from registry.actor import Actor
from registry.audit.entries import UPDATE, entry_values
from registry.db.audit import AuditEntry
from registry.db.decisions import Reservation
from registry.db.direct import JsonText
from registry.services import usage as usage_service
from tests.factories import bearer
from tests.usage.test_usage_metering import event, expire, permit, post

AT = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)

AWKWARD = {
    "plain": ("ev-1", "study-1", AT),
    "quotes and backslashes": ('ev-"q"\\b', 'st"u\\dy', AT),
    "json-looking": ('{"a":[1]}', '{"b": [2]}', AT),
    "non-ascii study key": ("ev-2", "één-ß-\u2028-\U0001f600", AT),
    "an offset and microseconds": ("ev-3", "s", datetime(2026, 6, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))),
}


@pytest.mark.parametrize("case", sorted(AWKWARD))
@pytest.mark.parametrize("before, target", [(Reservation.RESERVED, Reservation.CONFIRMED),
                                            (Reservation.RESERVED, Reservation.RELEASED),
                                            (Reservation.EXPIRED, Reservation.CONFIRMED)])
def test_the_batch_text_is_json_dumps_of_the_entry(case, before, target):
    event_id, study_key, occurred = AWKWARD[case]
    actor = Actor(kind="gateway", id="gw-1", roles=("gateway",), hospital_id=1, gateway_id=1,
                  network_access_point="127.0.0.1")
    decision = SimpleNamespace(id="6f1c0d9e-0000-4000-8000-000000000001", tool_slug="bonexpert",
                               study_key=study_key, purpose="clinical-care")
    outcome = "completed" if target == Reservation.CONFIRMED else "failed"
    ev = usage_service.UsageEventIn(event_id=event_id, decision_id=decision.id, outcome=outcome,
                                    occurred_at=occurred)
    documents = {
        "objects": [{"type": "decision", "id": decision.id}, {"type": "tool", "id": "bonexpert"},
                    {"type": "study", "id": study_key, "sensitivity": "opaque-key"}],
        "detail": {"event_id": event_id, "outcome": outcome, "occurred_at": occurred.isoformat(),
                   "reservation": {"before": str(before), "after": str(target)},
                   "late": before == Reservation.EXPIRED},
        "checks": {}}
    expected = entry_values(actor=actor, at=AT, event_type="usage", action_code=UPDATE, outcome="success",
                            object_type="decision", object_id=decision.id, purpose_of_use="clinical-care",
                            **documents)
    row = usage_service._usage_audit_row(actor, AT, decision, ev, before, target)
    for column, document in documents.items():
        assert isinstance(row[column], JsonText)
        assert row[column] == json.dumps(document)  # the very text the column's encoder writes
    assert {k: v for k, v in row.items() if k not in (*documents, "event_id")} == \
        {k: v for k, v in expected.items() if k not in (*documents, "event_id")}


def test_a_batch_stores_the_documents_the_entry_holds(client, session, clock, policy_engine, world, headers):
    d = permit(session, clock, policy_engine, world, 'k"\\q')
    post(client, headers, event(d.id, 'ev-"1"'))
    entry = session.scalars(select(AuditEntry).where(AuditEntry.event_type == "usage",
                                                     AuditEntry.object_id == d.id)).one()
    assert entry.objects == [{"type": "decision", "id": d.id}, {"type": "tool", "id": d.tool_slug},
                             {"type": "study", "id": 'k"\\q', "sensitivity": "opaque-key"}]
    assert entry.detail["event_id"] == 'ev-"1"' and entry.detail["late"] is False
    assert entry.detail["reservation"] == {"before": "reserved", "after": "confirmed"}
    assert entry.checks == {}


def test_a_late_completion_event_by_event_stores_the_same_entry(client, session, clock, policy_engine, world):
    """A late completion takes quota again, so it is recorded event by event (_record_one): the same
    entry builder and bulk insert, one row."""
    d = permit(session, clock, policy_engine, world, "late-1")
    clock.advance(days=2)
    expire(session, clock)
    post(client, bearer(session, clock, world.gateway), event(d.id, "ev-late", at="2026-06-01T11:00:00Z"))
    entries = session.scalars(select(AuditEntry).where(AuditEntry.event_type == "usage",
                                                       AuditEntry.object_id == d.id)).all()
    [entry] = [e for e in entries if "event_id" in e.detail]  # the other is the expiry's
    assert entry.objects[2] == {"type": "study", "id": "late-1", "sensitivity": "opaque-key"}
    assert entry.detail == {"event_id": "ev-late", "outcome": "completed", "occurred_at": "2026-06-01T11:00:00+00:00",
                            "reservation": {"before": "expired", "after": "confirmed"}, "late": True}
    assert entry.checks == {} and entry.actor == f"gateway:{world.gateway.client_id}"
