"""The two ways a usage batch is recorded, and what expiry and reconciliation write down.

A batch is recorded in one pass (a handful of statements) unless something in it needs the
event-by-event path (a late completion, a value the database refuses, a lost race). Both paths
must give the same answer and leave the same rows; these tests pin each path's own work, which
the HTTP tests cannot tell apart (docs/testing.md, mutation part 8).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from registry.actor import Actor, PermissionDenied
from registry.clock import FixedClock
from registry.db.base import make_session_factory
from registry.db.audit import AuditEntry
from registry.db.contracts import QuotaCounter
from registry.db.decisions import Decision, UsageEvent
from registry.db.migrate import upgrade
from registry.permissions import Permission
from registry.services import usage
from registry.services.errors import ValidationFailed
from tests.conftest import DEMO_NOW, is_postgres
from tests.factories import make_world
from tests.usage.test_usage_metering import event, permit, used

REUSED = ("this event_id was already used for another decision or outcome; event ids must be "
          "unique per hospital")
NOTHING_RESERVED = ("this decision reserved nothing (a deny, dry run or evaluation); there is no "
                    "usage to report for it")


def report(session, clock, world, *events):
    out = usage.report_usage(session, actor=world.actor, clock=clock, events=list(events))
    session.commit()
    return out.view()


def fallbacks(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "registry.usage" and "event by event" in r.getMessage()]


def decision(session, decision_id):
    session.expire_all()
    return session.get(Decision, decision_id)


def expire_all_open(session, clock):
    """The demo world's (and earlier tests') open reservations, so that only a test's own remain."""
    usage.expire_reservations(session, actor=Actor.system("tests"), clock=clock, window_seconds=0)
    session.commit()


@pytest.mark.parametrize("who", ["a user with a hospital and a gateway", "a gateway without a hospital",
                                 "a gateway actor without its gateway"])
def test_only_a_gateway_of_a_hospital_reports_usage(session, clock, policy_engine, world, who):
    d = permit(session, clock, policy_engine, world, "s")
    kind, hospital_id, gateway_id = {
        "a user with a hospital and a gateway": ("user", world.hospital.id, world.gateway.id),
        "a gateway without a hospital": ("gateway", None, world.gateway.id),
        "a gateway actor without its gateway": ("gateway", world.hospital.id, None)}[who]
    actor = Actor(kind=kind, id="x", permissions=frozenset({Permission.USAGE_REPORT}),
                  hospital_id=hospital_id, gateway_id=gateway_id)
    with pytest.raises(PermissionDenied) as refused:
        usage.report_usage(session, actor=actor, clock=clock, events=[event(d.id, "ev-1")])
    assert refused.value.permission == Permission.USAGE_REPORT
    assert decision(session, d.id).reservation == "reserved"


def test_more_than_a_thousand_events_are_refused_saying_so(session, clock, world):
    with pytest.raises(ValidationFailed) as refused:
        usage.report_usage(session, actor=world.actor, clock=clock,
                           events=[event("d", f"ev-{i}") for i in range(1001)])
    assert (str(refused.value), refused.value.fields) == ("at most 1000 events per request",
                                                          {"events": "1001 events"})


@pytest.mark.parametrize("one_by_one", [False, True], ids=["in one pass", "event by event"])
def test_another_hospitals_event_id_is_no_duplicate(session, clock, policy_engine, world, one_by_one):
    """Event ids are unique per hospital: the same id from two hospitals is two events."""
    other = make_world(session, clock)
    session.commit()
    theirs, mine = permit(session, clock, policy_engine, other, "t"), permit(session, clock, policy_engine, world, "m")
    report(session, clock, other, event(theirs.id, "ev-1"))
    events = [event(mine.id, "ev-1")]
    if one_by_one:  # a late completion in the batch sends it event by event
        late = permit(session, clock, policy_engine, world, "late")
        clock.advance(days=2)
        expire_all_open(session, clock)
        events.append(event(late.id, "ev-late"))
    assert report(session, clock, world, *events) == {"accepted": len(events), "duplicates": 0, "rejected": []}
    assert decision(session, mine.id).reservation == "confirmed"


# -- one pass ------------------------------------------------------------------------------------------

def test_a_plain_batch_is_recorded_in_one_pass(session, clock, policy_engine, world, caplog):
    caplog.set_level(logging.INFO, logger="registry.usage")
    done, failed, taken = (permit(session, clock, policy_engine, world, k) for k in ("s1", "s2", "s3"))
    deny = permit(session, clock, policy_engine, world, "s4", purpose="research")
    report(session, clock, world, event(taken.id, "ev-taken"))
    clock.advance(minutes=5)
    answer = report(session, clock, world,
                    event(done.id, "ev-1"), event(failed.id, "ev-2", "failed"),
                    event(done.id, "ev-1"), event(taken.id, "ev-taken"),  # two duplicates
                    event(failed.id, "ev-taken"),                          # an id used for another
                    event(deny.id, "ev-deny"))
    assert answer == {"accepted": 2, "duplicates": 2, "rejected": [
        {"index": 4, "code": "EVENT_ID_REUSED", "detail": REUSED},
        {"index": 5, "code": "NOT_A_RESERVATION", "detail": NOTHING_RESERVED}]}
    assert fallbacks(caplog) == []
    # Each move is stamped with the report's time, and its audit entry too.
    for d, state in ((done, "confirmed"), (failed, "released")):
        row = decision(session, d.id)
        assert (row.reservation, row.finalised_at) == (state, clock.now())
        entry = session.scalars(select(AuditEntry).where(AuditEntry.object_id == d.id,
                                                         AuditEntry.event_type == "usage")).one()
        assert entry.recorded_at == clock.now()


def test_a_batch_locks_its_own_decisions_only_in_id_order(session, clock, policy_engine, world):
    """Every writer takes decision rows in id order (and counters last): concurrent reports and
    sweeps on PostgreSQL cannot wait on each other in a circle."""
    ds = [permit(session, clock, policy_engine, world, f"lock-{i}") for i in range(5)]
    mine = [usage._validate(event(d.id, f"ev-{i}"), clock.now()) for i, d in enumerate(ds[:3])]
    statements = []
    listen = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    sa_event.listen(session.connection().engine, "before_cursor_execute", listen)
    try:
        locked = usage._lock_decisions(session, world.actor, list(reversed(mine)))
    finally:
        sa_event.remove(session.connection().engine, "before_cursor_execute", listen)
    assert set(locked) == {d.id for d in ds[:3]}
    lock, = statements
    assert "ORDER BY decisions.id" in lock


# -- event by event ------------------------------------------------------------------------------------

def test_a_late_completion_sends_the_batch_event_by_event_with_the_same_answer(
        session, clock, policy_engine, world, caplog):
    late = permit(session, clock, policy_engine, world, "late")
    clock.advance(days=2)
    expire_all_open(session, clock)
    fresh, other, spare = (permit(session, clock, policy_engine, world, k) for k in ("fresh", "other", "spare"))
    deny = permit(session, clock, policy_engine, world, "denied", purpose="research")
    report(session, clock, world, event(other.id, "ev-other"))
    assert used(session, world) == 3
    caplog.set_level(logging.INFO, logger="registry.usage")
    answer = report(session, clock, world,
                    event(late.id, "ev-late", at="2026-06-02T10:00:00Z"),
                    event(other.id, "ev-other"), event(other.id, "ev-other"),  # duplicates
                    event(fresh.id, "ev-other"),                              # reused id
                    event(deny.id, "ev-deny"),
                    event("no-such-decision", "ev-none"),
                    event(fresh.id, "ev-fresh", "cancelled"),
                    event(spare.id, "ev-spare", "failed"),
                    event(other.id, "ev-other-again"),          # the same finalisation: duplicate
                    event(other.id, "ev-other-failed", "failed"))  # another one: refused
    assert fallbacks(caplog) == ["usage batch recorded event by event: a late completion takes quota again"]
    assert answer == {"accepted": 3, "duplicates": 3, "rejected": [
        {"index": 3, "code": "EVENT_ID_REUSED", "detail": REUSED},
        {"index": 4, "code": "NOT_A_RESERVATION", "detail": NOTHING_RESERVED},
        {"index": 5, "code": "DECISION_NOT_FOUND", "detail": "no decision no-such-decision"},
        {"index": 9, "code": "DECISION_ALREADY_FINALISED",
         "detail": "this decision was already reported as confirmed"}]}
    assert [(decision(session, d.id).reservation, decision(session, d.id).finalised_at)
            for d in (late, fresh, spare)] == [("confirmed", clock.now()), ("released", clock.now()),
                                               ("released", clock.now())]
    # The late completion took its unit again, the two releases gave theirs back: other and late.
    assert used(session, world) == 2


def test_an_event_id_stored_by_a_concurrent_report_is_judged_again(session, clock, policy_engine, world,
                                                                   monkeypatch):
    """Between this report's look-up and its insert, another report stored the same event id (the
    unique constraint catches it): the event is classified again against what is now stored."""
    a, b = (permit(session, clock, policy_engine, world, k) for k in ("a", "b"))
    report(session, clock, world, event(a.id, "ev-1"))
    real = usage._classify_existing
    calls = []

    def look_too_early(session_, actor, ev):
        calls.append(ev.event_id)
        if len(calls) > 1:  # the look-up after the constraint failed sees the stored event
            real(session_, actor, ev)

    monkeypatch.setattr(usage, "_classify_existing", look_too_early)
    checked = [(0, usage._validate(event(b.id, "ev-1"), clock.now()))]
    answer = usage._record_each(session, actor=world.actor, now=clock.now(), checked=checked)
    session.commit()
    assert calls == ["ev-1", "ev-1"]
    assert answer.view() == {"accepted": 0, "duplicates": 0, "rejected": [
        {"index": 0, "code": "EVENT_ID_REUSED", "detail": REUSED}]}
    assert decision(session, b.id).reservation == "reserved"  # the savepoint undid its move


def usage_entry(session, decision_id):
    e = session.scalars(select(AuditEntry).where(AuditEntry.object_id == decision_id,
                                                 AuditEntry.event_type == "usage")
                        .order_by(AuditEntry.id.desc())).first()
    return {"actor": e.actor, "actor_role": e.actor_role, "on_behalf_of_id": e.on_behalf_of_id,
            "action_code": e.action_code, "outcome": e.outcome, "object_type": e.object_type,
            "objects": e.objects, "detail": e.detail, "purpose_of_use": e.purpose_of_use}


def expected_entry(world, d, event_id, outcome, before, after, late=False,
                   occurred_at="2026-06-01T10:00:00+00:00"):
    return {"actor": world.actor.ref, "actor_role": "gateway", "on_behalf_of_id": world.hospital.id,
            "action_code": "U", "outcome": "success", "object_type": "decision",
            "objects": [{"type": "decision", "id": d.id}, {"type": "tool", "id": world.tool.slug},
                        {"type": "study", "id": d.study_key, "sensitivity": "opaque-key"}],
            "detail": {"event_id": event_id, "outcome": outcome, "occurred_at": occurred_at,
                       "reservation": {"before": before, "after": after}, "late": late},
            "purpose_of_use": "clinical-care"}


@pytest.mark.parametrize("one_by_one", [False, True], ids=["in one pass", "event by event"])
def test_each_recorded_event_has_its_audit_entry_in_full(session, clock, policy_engine, world,
                                                          one_by_one):
    events = []
    if one_by_one:  # a late completion in the batch sends it event by event
        late = permit(session, clock, policy_engine, world, "late")
        clock.advance(days=2)
        expire_all_open(session, clock)
        events.append(event(late.id, "ev-late", at="2026-06-02T09:00:00Z"))
    done, failed = (permit(session, clock, policy_engine, world, k) for k in ("done", "failed"))
    events += [event(done.id, "ev-done"), event(failed.id, "ev-failed", "failed")]
    assert report(session, clock, world, *events)["accepted"] == len(events)
    assert usage_entry(session, done.id) == expected_entry(world, done, "ev-done", "completed",
                                                           "reserved", "confirmed")
    assert usage_entry(session, failed.id) == expected_entry(world, failed, "ev-failed", "failed",
                                                             "reserved", "released")
    if one_by_one:
        assert usage_entry(session, late.id) == expected_entry(
            world, late, "ev-late", "completed", "expired", "confirmed", late=True,
            occurred_at="2026-06-02T09:00:00+00:00")


def test_events_a_concurrent_report_stored_first_count_as_duplicates(session, clock, policy_engine, world,
                                                                     monkeypatch):
    """The same race, the other outcome: the concurrent report stored these very events (same
    decision, same outcome) after this report looked; each is a duplicate, counted once."""
    b, c = (permit(session, clock, policy_engine, world, k) for k in ("b", "c"))
    for d, event_id in ((b, "ev-b"), (c, "ev-c")):  # what the other report had inserted
        session.add(UsageEvent(event_id=event_id, hospital_id=world.hospital.id,
                               gateway_id=world.gateway.id, decision_id=d.id, outcome="completed",
                               occurred_at=clock.now(), received_at=clock.now()))
    session.flush()
    real, calls = usage._classify_existing, []

    def look_too_early(session_, actor, ev):
        calls.append(ev.event_id)
        if calls.count(ev.event_id) > 1:
            real(session_, actor, ev)

    monkeypatch.setattr(usage, "_classify_existing", look_too_early)
    checked = [(i, usage._validate(event(d.id, f"ev-{k}"), clock.now()))
               for i, (d, k) in enumerate(((b, "b"), (c, "c")))]
    answer = usage._record_each(session, actor=world.actor, now=clock.now(), checked=checked)
    assert calls == ["ev-b", "ev-b", "ev-c", "ev-c"]
    assert answer.view() == {"accepted": 0, "duplicates": 2, "rejected": []}


@pytest.mark.parametrize("where", ["_record_batch", "_record_one"])
def test_a_database_that_fails_fails_the_report_not_one_event(session, clock, policy_engine, world,
                                                             monkeypatch, where):
    """Only a value the database refuses rejects one event; a lost connection is no verdict on
    the event: it fails the whole report (a 503 at the edge), so that the gateway sends it again."""
    d = permit(session, clock, policy_engine, world, "s")

    def lost(*args, **kwargs):
        raise OperationalError("UPDATE decisions …", {}, ConnectionError("server closed the connection"))

    if where == "_record_one":  # reached event by event, after a late completion
        clock.advance(days=2)
        expire_all_open(session, clock)
    monkeypatch.setattr(usage, where, lost)
    with pytest.raises(OperationalError):
        usage.report_usage(session, actor=world.actor, clock=clock, events=[event(d.id, "ev-1")])


def test_a_reservation_that_keeps_moving_under_the_report_is_a_conflict(session, clock, policy_engine,
                                                                        world, monkeypatch):
    """Two rounds, then CONFLICT: a decision that another writer moves between every read and
    conditional update of this report (only under a storm of writers) is refused, not looped on."""
    d = permit(session, clock, policy_engine, world, "s")
    rounds = []
    monkeypatch.setattr(usage, "_transition", lambda *args: rounds.append(args[1]) and False)
    checked = [(0, usage._validate(event(d.id, "ev-1"), clock.now()))]
    answer = usage._record_each(session, actor=world.actor, now=clock.now(), checked=checked)
    assert rounds == [d.id, d.id]
    assert answer.view() == {"accepted": 0, "duplicates": 0, "rejected": [
        {"index": 0, "code": "CONFLICT", "detail": "the decision changed while reporting; retry"}]}


def test_a_late_completion_takes_its_unit_again_in_its_own_months_window(session, clock, policy_engine):
    world = make_world(session, clock, quota_period="month")
    session.commit()
    d = permit(session, clock, policy_engine, world, "june")
    clock.advance(days=31)  # July: the June reservation expires, and July has a permit of its own
    expire_all_open(session, clock)
    permit(session, clock, policy_engine, world, "july")
    assert report(session, clock, world, event(d.id, "ev-june"))["accepted"] == 1
    counters = dict(session.execute(select(QuotaCounter.window_start, QuotaCounter.used)
                                    .where(QuotaCounter.licence_id == world.licence.id)).all())
    assert counters == {date(2026, 6, 1): 1, date(2026, 7, 1): 1}


def test_a_conditional_move_leaves_a_reservation_that_moved_elsewhere(session, clock, policy_engine, world):
    d = permit(session, clock, policy_engine, world, "s")
    assert usage._transition(session, d.id, "reserved", "released", clock.now()) is True
    assert usage._transition(session, d.id, "reserved", "confirmed", clock.now()) is False
    session.commit()
    assert decision(session, d.id).reservation == "released"


def test_a_batch_that_lost_a_race_for_an_event_id_is_recorded_event_by_event(
        session, clock, policy_engine, world, monkeypatch, caplog):
    """A concurrent report inserts one of this batch's event ids after the batch looked them up:
    the unique constraint refuses the batch's insert, its savepoint is undone, and the events are
    recorded one by one against what is now stored."""
    a, b = (permit(session, clock, policy_engine, world, k) for k in ("a", "b"))
    real = usage._USAGE_ROWS

    class Overtaken:
        def run(self, conn, rows):  # the other report's row lands first, inside the savepoint
            conn.execute(UsageEvent.__table__.insert().values(
                event_id="ev-a", hospital_id=world.hospital.id, gateway_id=world.gateway.id,
                decision_id=b.id, outcome="completed", occurred_at=clock.now(), received_at=clock.now()))
            real.run(conn, rows)

    monkeypatch.setattr(usage, "_USAGE_ROWS", Overtaken())
    caplog.set_level(logging.INFO, logger="registry.usage")
    answer = report(session, clock, world, event(a.id, "ev-a"), event(b.id, "ev-b"))
    assert fallbacks(caplog) == ["usage batch recorded event by event: IntegrityError"]
    assert answer == {"accepted": 2, "duplicates": 0, "rejected": []}


# -- expiry --------------------------------------------------------------------------------------------

def test_expiry_stamps_its_time_and_writes_a_complete_audit_entry(session, clock, policy_engine, world):
    d = permit(session, clock, policy_engine, world, "stale")
    clock.advance(days=2)
    assert usage.expire_reservations(session, actor=Actor.system("sweep"), clock=clock,
                                     window_seconds=3600) >= 1
    session.commit()
    row = decision(session, d.id)
    assert row.reservation == "expired" and row.finalised_at == clock.now()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.object_id == d.id,
                                                     AuditEntry.event_type == "usage")).one()
    assert (entry.action_code, entry.outcome, entry.object_type, entry.purpose_of_use) == (
        "U", "success", "decision", row.purpose)
    assert row.purpose == "clinical-care"
    assert entry.detail == {"reservation": {"before": "reserved", "after": "expired"},
                            "reason": "not confirmed within 3600 s", "reconcile": True}


def test_expiry_breaks_a_tie_in_time_by_decision_id(session, clock, policy_engine, world):
    clock.advance(days=2)
    expire_all_open(session, clock)
    # Ten at the same instant, half expired: the ids are random, so that the order they were made
    # in picks the same half by chance once in 252 runs.
    ids = [permit(session, clock, policy_engine, world, f"tie-{i}").id for i in range(10)]
    clock.advance(days=2)
    assert usage.expire_reservations(session, actor=Actor.system("sweep"), clock=clock,
                                     window_seconds=3600, limit=5) == 5
    session.commit()
    expired = sorted(i for i in ids if decision(session, i).reservation == "expired")
    assert expired == sorted(ids)[:5]


def test_expiry_goes_on_past_a_reservation_reported_meanwhile(session, clock, policy_engine, world,
                                                              monkeypatch):
    clock.advance(days=2)
    expire_all_open(session, clock)
    ids = [permit(session, clock, policy_engine, world, f"race-{i}").id for i in range(3)]
    clock.advance(days=2)
    real, seen = usage._transition, []

    def first_reported_meanwhile(session_, decision_id, before, after, now):
        seen.append(decision_id)
        return False if len(seen) == 1 else real(session_, decision_id, before, after, now)

    monkeypatch.setattr(usage, "_transition", first_reported_meanwhile)
    assert usage.expire_reservations(session, actor=Actor.system("sweep"), clock=clock,
                                     window_seconds=3600) == 2
    session.commit()
    assert [decision(session, i).reservation for i in seen] == ["reserved", "expired", "expired"]
    assert sorted(seen) == sorted(ids)


@pytest.mark.skipif(not is_postgres(), reason="row locks that another transaction holds: PostgreSQL")
def test_expiry_skips_a_reservation_another_transaction_holds(fresh_engine, policy_engine):
    upgrade(fresh_engine)
    sessions = make_session_factory(fresh_engine)
    clock = FixedClock(DEMO_NOW)
    with sessions() as s:
        world = make_world(s, clock)
        s.commit()
        held, free = (permit(s, clock, policy_engine, world, k).id for k in ("held", "free"))
    clock.advance(days=2)
    with sessions() as holder, sessions() as sweeper:
        holder.execute(select(Decision.id).where(Decision.id == held).with_for_update())
        # Waiting for the holder would be the defect: without SKIP LOCKED this fails after 2 s.
        sweeper.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert usage.expire_reservations(sweeper, actor=Actor.system("sweep"), clock=clock,
                                         window_seconds=3600) == 1
        sweeper.commit()
        holder.rollback()
    with sessions() as s:
        assert (s.get(Decision, held).reservation, s.get(Decision, free).reservation) == (
            "reserved", "expired")


# -- reconciliation ------------------------------------------------------------------------------------

def test_reconciliation_counts_each_licence_and_period_apart(session, clock, policy_engine):
    """Two licences in the same period, and one licence with two monthly periods: no row borrows
    another's counts."""
    one, two = make_world(session, clock), make_world(session, clock)
    monthly = make_world(session, clock, quota_period="month")
    session.commit()
    permit(session, clock, policy_engine, one, "one-a")
    for k in ("two-a", "two-b"):
        permit(session, clock, policy_engine, two, k)
    june = permit(session, clock, policy_engine, monthly, "june")
    permit(session, clock, policy_engine, monthly, "june-open")
    report(session, clock, monthly, event(june.id, "ev-june"))
    clock.advance(days=31)
    for k in ("july-a", "july-b", "july-c"):
        permit(session, clock, policy_engine, monthly, k)
    rows = usage.reconciliation(session, actor=Actor.system("auditor"))
    mine = {(r["licence"]["id"], r["period_start"]): (r["permits"], r["completed"], r["reserved"],
                                                      r["quota_used"], r["consistent"])
            for r in rows if r["licence"]["id"] in (one.licence.id, two.licence.id, monthly.licence.id)}
    assert {r["licence"]["tool"] for r in rows if r["licence"]["id"] == two.licence.id} == {two.tool.slug}
    assert mine == {
        (one.licence.id, "2026-01-01"): (1, 0, 1, 1, True),
        (two.licence.id, "2026-01-01"): (2, 0, 2, 2, True),
        (monthly.licence.id, "2026-06-01"): (2, 1, 1, 2, True),
        (monthly.licence.id, "2026-07-01"): (3, 0, 3, 3, True),
    }


def test_hospital_staff_see_their_own_hospitals_licences_only(session, clock, policy_engine, world):
    other = make_world(session, clock)
    session.commit()
    permit(session, clock, policy_engine, world, "mine")
    permit(session, clock, policy_engine, other, "theirs")
    staff = Actor(kind="user", id="staff-1", permissions=frozenset({Permission.USAGE_READ}),
                  organisation_id=world.hospital.id)
    rows = usage.reconciliation(session, actor=staff)
    assert {r["licence"]["id"] for r in rows} == {world.licence.id}
    assert rows[0]["hospital"]["name"] == world.hospital.name
    assert date.fromisoformat(rows[0]["period_start"]) <= clock.now().date() < \
        date.fromisoformat(rows[0]["period_end"]) + timedelta(days=1)


def test_a_counter_no_decision_explains_is_listed_as_inconsistent(session, clock):
    """Reconciliation is where a counter that drifted from its decisions shows: a counter with
    units but no decision in its period is a line of its own, not left out."""
    world = make_world(session, clock)
    session.add(QuotaCounter(licence_id=world.licence.id, window_start=date(2026, 1, 1),
                             window_end=date(2026, 12, 31), used=3))
    session.commit()
    row, = usage.reconciliation(session, actor=Actor.system("auditor"), licence_id=world.licence.id)
    assert (row["permits"], row["quota_used"], row["consistent"]) == (0, 3, False)


def test_a_period_after_a_licences_end_lists_no_line_for_it(session, clock):
    monthly = make_world(session, clock, quota_period="month")
    session.commit()
    listed = {day: [r["period_start"] for r in usage.reconciliation(
        session, actor=Actor.system("auditor"), licence_id=monthly.licence.id, period_start=day)]
        for day in (date(2026, 12, 1), date(2027, 1, 1))}
    assert listed == {date(2026, 12, 1): ["2026-12-01"], date(2027, 1, 1): []}


def test_a_licence_is_listed_for_the_periods_at_both_ends_of_its_term(session, clock):
    """Inclusive end dates: a licence of 1 March to 1 July, monthly, owes a line for the period
    that starts on its first day and for the one-day period that is its last day."""
    world = make_world(session, clock, quota_period="month",
                       licence_term=(date(2026, 3, 1), date(2026, 7, 1)))
    session.commit()

    def lines(day):
        return [(r["period_start"], r["period_end"], r["quota_used"], r["consistent"])
                for r in usage.reconciliation(session, actor=Actor.system("auditor"),
                                              licence_id=world.licence.id, period_start=day)]

    assert lines(date(2026, 3, 1)) == [("2026-03-01", "2026-03-31", 0, True)]
    assert lines(date(2026, 7, 1)) == [("2026-07-01", "2026-07-01", 0, True)]
    assert lines(date(2026, 2, 1)) == lines(date(2026, 8, 1)) == []


def test_reconciliation_lists_by_hospital_name_then_licence_reference(session, clock, policy_engine):
    first, second = make_world(session, clock), make_world(session, clock)
    first.hospital.name, second.hospital.name = "Zuyderland MC", "Amphia"
    session.commit()
    for w in (first, second):
        permit(session, clock, policy_engine, w, "s")
    rows = usage.reconciliation(session, actor=Actor.system("auditor"))
    names = [r["hospital"]["name"] for r in rows if r["licence"]["id"] in (first.licence.id, second.licence.id)]
    assert names == ["Amphia", "Zuyderland MC"]
    assert [r["hospital"]["name"] for r in rows] == sorted(r["hospital"]["name"] for r in rows)


def test_a_reconciliation_line_in_full(session, clock, policy_engine, world):
    d = permit(session, clock, policy_engine, world, "one")
    permit(session, clock, policy_engine, world, "two")
    report(session, clock, world, event(d.id, "ev-one"))
    row, = usage.reconciliation(session, actor=Actor.system("auditor"), licence_id=world.licence.id)
    assert row == {
        "licence": {"id": world.licence.id, "reference": world.licence.reference,
                    "hospital_id": world.hospital.id, "tool": world.tool.slug},
        "hospital": {"ura": world.hospital.ura, "name": world.hospital.name},
        "period_start": "2026-01-01", "period_end": "2026-12-31", "quota_limit": 100,
        "permits": 2, "completed": 1, "released": 0, "expired": 0, "reserved": 1,
        "quota_used": 2, "consistent": True,
    }


TERM_CHANGES = {
    # The counter keeps the end its window had at the first reservation: the line states the
    # period as the licence's term now has it.
    "a whole-term quota, the term extended": (
        "term", (date(2026, 1, 1), date(2026, 6, 30)), 0, date(2026, 12, 31), ("2026-01-01", "2026-12-31")),
    "a month, the term cut to its first day": (
        "month", (date(2026, 1, 1), date(2026, 12, 31)), 30, date(2026, 7, 1), ("2026-07-01", "2026-07-01")),
    # Only a term cut short before the period began leaves the period as it was used.
    "a month, the term cut short before it": (
        "month", (date(2026, 1, 1), date(2026, 12, 31)), 0, date(2026, 5, 31), ("2026-06-01", "2026-06-30")),
}


@pytest.mark.parametrize("case", sorted(TERM_CHANGES))
def test_a_period_ends_where_the_licences_term_now_has_it(session, clock, policy_engine, case):
    from registry.services import contracts

    period, term, days, new_end, expected = TERM_CHANGES[case]
    world = make_world(session, clock, quota_period=period, licence_term=term)
    session.commit()
    clock.advance(days=days)
    permit(session, clock, policy_engine, world, "before-the-change")
    contracts.amend_licence(session, actor=Actor.system("procurement"), clock=clock,
                            licence_id=world.licence.id, changes={"ends_on": new_end})
    session.commit()
    row, = usage.reconciliation(session, actor=Actor.system("auditor"), licence_id=world.licence.id)
    assert (row["period_start"], row["period_end"], row["permits"], row["quota_used"]) == (*expected, 1, 1)


def test_the_batch_reads_its_decisions_columns_in_the_named_order():
    """_lock_decisions builds _Locked from the selected columns by position."""
    assert usage._Locked._fields == tuple(c.key for c in usage._BATCH_COLUMNS)
