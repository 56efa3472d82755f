"""One bad usage event is one rejected index, never a failed batch (issue 14, item 2): an event
the database could not hold is refused on its own and the good events around it are stored, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from registry.db.decisions import UsageEvent
from registry.services import usage as usage_service
from tests.usage.test_usage_metering import event, permit, state

# Each would once have made the whole POST a 503 with nothing stored.
UNSTORABLE = {
    # No UTC value for year 1 at +05:00 (SQLite cannot hold it; the conversion overflows).
    "year 1 with an offset": lambda d: event(d, "ev-bad", at="0001-01-01T00:00:00+05:00"),
    "year 9999 with a negative offset": lambda d: event(d, "ev-bad", at="9999-12-31T23:59:59-05:00"),
    # PostgreSQL cannot hold a NUL in text; it reached the query of the batch's decisions.
    "NUL in the decision id": lambda d: event(d[:10] + "\x00" + d[11:], "ev-bad"),
    "NUL in the event id": lambda d: event(d, "ev\x00bad"),
    "a decision id of 10,000 characters": lambda d: event("d" * 10_000, "ev-bad"),
}


def _stored(session, *event_ids):
    return session.scalar(select(func.count()).select_from(UsageEvent)
                          .where(UsageEvent.event_id.in_(event_ids)))


@pytest.mark.parametrize("case", sorted(UNSTORABLE))
def test_the_good_events_are_stored_and_exactly_the_bad_index_is_rejected(
        client, session, clock, policy_engine, world, headers, case):
    first, second = (permit(session, clock, policy_engine, world, key=k) for k in ("s-1", "s-2"))
    body = {"events": [event(first.id, "ev-1"), UNSTORABLE[case](second.id), event(second.id, "ev-2")]}
    response = client.post("/api/v1/usage", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["accepted"] == 2 and answer["duplicates"] == 0
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert answer["rejected"][0]["code"] == "INVALID_EVENT"
    assert _stored(session, "ev-1", "ev-2") == 2
    assert state(session, first.id) == state(session, second.id) == "confirmed"


def test_a_value_the_database_refuses_rejects_that_event_only(
        client, session, clock, policy_engine, world, headers, monkeypatch, caplog):
    """The backstop behind validation: should an unstorable value ever pass it, the database's
    refusal is that event's rejection (its savepoint undone), not a 503 for the batch."""
    original = usage_service._in_range

    def lenient(event, now):  # noqa: ANN001, ANN202 - validation that forgets the date range
        return event if event.event_id == "ev-bad" else original(event, now)

    monkeypatch.setattr(usage_service, "_in_range", lenient)
    first, second = (permit(session, clock, policy_engine, world, key=k) for k in ("s-1", "s-2"))
    body = {"events": [event(first.id, "ev-1"), UNSTORABLE["year 1 with an offset"](second.id),
                       event(second.id, "ev-2")]}
    caplog.set_level(logging.INFO, logger="registry.usage")
    answer = client.post("/api/v1/usage", json=body, headers=headers).get_json()
    assert (answer["accepted"], answer["rejected"]) == (2, [
        {"index": 1, "code": "INVALID_EVENT", "detail": "a value of this event cannot be stored"}])
    assert _stored(session, "ev-1", "ev-2") == 2 and _stored(session, "ev-bad") == 0
    # What the operator reads: why the batch went event by event, and which kind of refusal
    # (the type only: the statement and its values are not logged).
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "registry.usage"] == [
        ("INFO", "usage batch recorded event by event: OverflowError"),
        ("WARNING", "usage event refused by the database: OverflowError")]


def test_events_from_before_the_registry_are_refused(client, session, clock, policy_engine, world,
                                                     headers):
    d = permit(session, clock, policy_engine, world)
    answer = client.post("/api/v1/usage", json={"events": [event(d.id, "ev-1", at="1999-12-31T23:00:00Z")]},
                         headers=headers).get_json()
    assert answer["rejected"][0]["detail"] == "occurred_at: before the registry existed"


def test_a_refused_event_names_each_field_that_is_wrong(clock):
    """The detail of an INVALID_EVENT names the fields, one "field: why" per error, so that a
    gateway's operator can see what to fix."""
    raw = {"event_id": "ev-1", "outcome": "done", "occurred_at": "2026-06-01T10:00:00Z"}
    with pytest.raises(usage_service._Reject) as refused:
        usage_service._validate(raw, clock.now())
    assert refused.value.code == "INVALID_EVENT"
    assert [part.split(":")[0] for part in refused.value.detail.split("; ")] == ["decision_id", "outcome"]


FIRST_SECOND, SKEW = "2020-01-01T00:00:00Z", 300  # the registry's first day; five minutes ahead
PAST, FUTURE = "occurred_at: before the registry existed", "occurred_at: lies in the future"


@pytest.mark.parametrize("at, refused_with", [
    ("2019-12-31T23:59:59Z", PAST), (FIRST_SECOND, None),
    ("2020-01-01T01:00:00+01:00", None),  # the same instant
    (SKEW, None), (SKEW + 1, FUTURE),  # seconds from now: clock skew, then the future
])
def test_usage_is_valid_from_the_registrys_first_day_to_five_minutes_ahead(clock, at, refused_with):
    from datetime import timedelta

    if isinstance(at, int):
        at = (clock.now() + timedelta(seconds=at)).isoformat()
    raw = {"event_id": "ev-1", "decision_id": "d-1", "outcome": "completed", "occurred_at": at}
    if refused_with is None:
        assert usage_service._validate(raw, clock.now()).event_id == "ev-1"
        return
    with pytest.raises(usage_service._Reject) as refused:
        usage_service._validate(raw, clock.now())
    assert (refused.value.code, refused.value.detail) == ("INVALID_EVENT", refused_with)
