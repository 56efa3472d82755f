"""POST /api/v1/usage: exactly-once metering of what gateways did with their permits, reservation
expiry, late completions, and the reconciliation view (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry.actor import Actor
from registry.db.audit import AuditEntry
from registry.db.contracts import QuotaCounter
from registry.db.decisions import Decision, UsageEvent
from registry.db.users import User
from registry.auth.tokens import issue_user_token
from registry.services import decisions as decisions_service
from registry.services import usage as usage_service
from tests.factories import bearer, child_hand, make_world


def permit(session, clock, policy_engine, world, key="study-1", **kw):
    outcome = decisions_service.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                       request=child_hand(world.tool.slug, key, **kw))
    session.commit()
    return outcome.decision


def event(decision_id, event_id, outcome="completed", at="2026-06-01T10:00:00Z"):
    return {"event_id": event_id, "decision_id": decision_id, "outcome": outcome, "occurred_at": at}


def post(client, headers, *events):
    response = client.post("/api/v1/usage", json={"events": list(events)}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def used(session, world):
    return session.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == world.licence.id))


def state(session, decision_id):
    session.expire_all()
    return session.get(Decision, decision_id).reservation


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_completed_confirms_the_reservation_with_an_audit_entry(client, session, clock, policy_engine,
                                                                world, headers):
    d = permit(session, clock, policy_engine, world)
    assert (state(session, d.id), used(session, world)) == ("reserved", 1)
    assert post(client, headers, event(d.id, "ev-1")) == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert (state(session, d.id), used(session, world)) == ("confirmed", 1)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.event_type == "usage",
                                                     AuditEntry.object_id == d.id)).all()
    assert len(audit) == 1 and audit[0].action_code == "U"
    assert audit[0].detail["reservation"] == {"before": "reserved", "after": "confirmed"}


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_failed_or_cancelled_releases_the_unit(client, session, clock, policy_engine, world, headers,
                                               outcome):
    d = permit(session, clock, policy_engine, world)
    assert post(client, headers, event(d.id, "ev-1", outcome))["accepted"] == 1
    assert (state(session, d.id), used(session, world)) == ("released", 0)


def test_the_same_event_twice_counts_once(client, session, clock, policy_engine, world, headers):
    d = permit(session, clock, policy_engine, world)
    first = post(client, headers, event(d.id, "ev-1"), event(d.id, "ev-1"))
    again = post(client, headers, event(d.id, "ev-1"))
    assert (first["accepted"], first["duplicates"], again["duplicates"]) == (1, 1, 1)
    assert count(session, UsageEvent, UsageEvent.decision_id == d.id) == 1
    assert used(session, world) == 1


def test_a_decision_is_finalised_once(client, session, clock, policy_engine, world, headers):
    d = permit(session, clock, policy_engine, world)
    post(client, headers, event(d.id, "ev-1", "completed"))
    answer = post(client, headers, event(d.id, "ev-2", "failed"),     # conflicting: rejected
                  event(d.id, "ev-3", "completed"))                    # same outcome, new id: duplicate
    assert answer["accepted"] == 0 and answer["duplicates"] == 1
    assert answer["rejected"] == [{"index": 0, "code": "DECISION_ALREADY_FINALISED",
                                   "detail": "this decision was already reported as confirmed"}]
    assert (state(session, d.id), used(session, world)) == ("confirmed", 1)
    assert count(session, UsageEvent, UsageEvent.decision_id == d.id) == 1


def test_an_event_id_reused_for_something_else_is_rejected(client, session, clock, policy_engine, world,
                                                          headers):
    a = permit(session, clock, policy_engine, world, "study-a")
    b = permit(session, clock, policy_engine, world, "study-b")
    post(client, headers, event(a.id, "ev-1"))
    answer = post(client, headers, event(b.id, "ev-1"))
    assert [r["code"] for r in answer["rejected"]] == ["EVENT_ID_REUSED"]
    assert state(session, b.id) == "reserved"


def test_deny_dry_run_and_other_hospitals_decisions_cannot_be_reported(client, session, clock,
                                                                      policy_engine, world, headers):
    other = make_world(session, clock)
    session.commit()
    theirs = permit(session, clock, policy_engine, other)
    deny = permit(session, clock, policy_engine, world, "study-d", purpose="research")
    dry = permit(session, clock, policy_engine, world, "study-e", dry_run=True)
    assert deny.outcome == "deny" and dry.outcome == "permit"
    answer = post(client, headers, event(theirs.id, "ev-1"), event(deny.id, "ev-2"),
                  event(dry.id, "ev-3"), event("no-such-decision", "ev-4"))
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [
        (0, "DECISION_NOT_FOUND"), (1, "NOT_A_RESERVATION"), (2, "NOT_A_RESERVATION"),
        (3, "DECISION_NOT_FOUND")]
    # Not revealed: the other hospital's decision answers exactly like one that does not exist.
    assert answer["rejected"][0]["detail"] == f"no decision {theirs.id}"
    assert state(session, theirs.id) == "reserved"


def test_a_mixed_batch_keeps_the_good_events(client, session, clock, policy_engine, world, headers):
    a = permit(session, clock, policy_engine, world, "study-a")
    b = permit(session, clock, policy_engine, world, "study-b")
    answer = post(client, headers,
                  event(a.id, "ev-a"),
                  {"event_id": "ev-x", "decision_id": a.id, "occurred_at": "2026-06-01T10:00:00Z"},
                  event(b.id, "ev-y", outcome="done"),
                  event(b.id, "ev-z", at="2026-06-01T10:00:00"),  # no time zone
                  event(b.id, "ev-f", at="2026-06-02T10:00:00Z"),  # a day in the future
                  "not an object",
                  event(b.id, "ev-b", "failed"))
    assert answer["accepted"] == 2 and answer["duplicates"] == 0
    assert [r["index"] for r in answer["rejected"]] == [1, 2, 3, 4, 5]
    assert {r["code"] for r in answer["rejected"]} == {"INVALID_EVENT"}
    assert (state(session, a.id), state(session, b.id)) == ("confirmed", "released")
    assert count(session, UsageEvent, UsageEvent.decision_id.in_([a.id, b.id])) == 2


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b"null", b'{"events": {}}', b'{"event": []}',
                                 b'{"events": [], "extra": 1}'])
def test_a_malformed_envelope_is_400_and_changes_nothing(client, session, clock, policy_engine, world,
                                                        headers, raw):
    permit(session, clock, policy_engine, world)
    before = count(session, UsageEvent)
    response = client.post("/api/v1/usage", data=raw,
                           headers=dict(headers, **{"Content-Type": "application/json"}))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_REQUEST"
    assert count(session, UsageEvent) == before


def test_more_than_1000_events_is_400_and_changes_nothing(client, session, clock, policy_engine, world,
                                                         headers):
    d = permit(session, clock, policy_engine, world)
    events = [event(d.id, "ev-1")] + [event(d.id, f"ev-{i}", "failed") for i in range(2, 1002)]
    response = client.post("/api/v1/usage", json={"events": events}, headers=headers)
    assert response.status_code == 400
    assert state(session, d.id) == "reserved" and count(session, UsageEvent) == 0
    # Exactly 1000 is allowed.
    assert post(client, headers, *events[:1000])["accepted"] == 1


def test_reporting_needs_the_usage_scope(client, session, clock, policy_engine, world):
    d = permit(session, clock, policy_engine, world)
    assert client.post("/api/v1/usage", json={"events": [event(d.id, "e")]}).status_code == 401
    only_decide = bearer(session, clock, world.gateway, scope="routing:decide")
    assert client.post("/api/v1/usage", json={"events": [event(d.id, "e")]},
                       headers=only_decide).status_code == 403
    assert state(session, d.id) == "reserved"


def test_only_gateways_report_usage(session, clock, world):
    with pytest.raises(Exception) as exc:
        usage_service.report_usage(session, actor=Actor.system("x"), clock=clock, events=[])
    assert type(exc.value).__name__ == "PermissionDenied"


# -- expiry -----------------------------------------------------------------------------------------

def expire(session, clock, window=86400, limit=None):
    n = usage_service.expire_reservations(session, actor=Actor.system("tests"), clock=clock,
                                          window_seconds=window, limit=limit)
    session.commit()
    return n


def test_unconfirmed_reservations_expire_after_the_window(session, clock, policy_engine, world):
    old = permit(session, clock, policy_engine, world, "study-old")
    clock.advance(hours=12)
    young = permit(session, clock, policy_engine, world, "study-young")
    assert used(session, world) == 2
    clock.advance(hours=12)  # old is now exactly 24 h old (the demo world's permits too)
    assert expire(session, clock) >= 1
    assert (state(session, old.id), state(session, young.id), used(session, world)) == (
        "expired", "reserved", 1)
    assert expire(session, clock) == 0  # idempotent
    audit = session.scalars(select(AuditEntry).where(AuditEntry.object_id == old.id,
                                                     AuditEntry.event_type == "usage")).one()
    assert audit.detail["reconcile"] is True


def test_expiry_is_bounded_and_oldest_first(session, clock, policy_engine, world):
    clock.advance(days=2)
    expire(session, clock)  # the demo world's open reservations, so that only ours remain
    ids = []
    for i in range(3):
        ids.append(permit(session, clock, policy_engine, world, f"s{i}").id)
        clock.advance(minutes=1)
    clock.advance(days=2)
    assert expire(session, clock, limit=2) == 2
    assert [state(session, i) for i in ids] == ["expired", "expired", "reserved"]


def test_the_usage_endpoint_expires_stale_reservations_on_the_way(client, session, clock,
                                                                 policy_engine, world):
    clock.advance(days=2)
    expire(session, clock)  # the demo world's open reservations: the sweep is bounded, oldest first
    stale = permit(session, clock, policy_engine, world, "stale")
    clock.advance(days=1, seconds=1)
    fresh = permit(session, clock, policy_engine, world, "fresh")
    headers = bearer(session, clock, world.gateway)  # the first token has expired meanwhile
    post(client, headers, event(fresh.id, "ev-1", at="2026-06-04T10:00:00Z"))
    assert (state(session, stale.id), state(session, fresh.id)) == ("expired", "confirmed")
    assert used(session, world) == 1


def test_a_late_completion_is_billable_and_takes_the_unit_again(client, session, clock, policy_engine,
                                                               world, headers):
    d = permit(session, clock, policy_engine, world)
    clock.advance(days=2)
    expire(session, clock)
    assert used(session, world) == 0
    headers = bearer(session, clock, world.gateway)
    answer = post(client, headers, event(d.id, "ev-1", at="2026-06-01T11:00:00Z"))
    assert answer["accepted"] == 1
    assert (state(session, d.id), used(session, world)) == ("confirmed", 1)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.object_id == d.id,
                                                     AuditEntry.event_type == "usage")
                            .order_by(AuditEntry.id)).all()
    assert audit[-1].detail["late"] is True


def test_a_late_completion_past_a_full_quota_is_overage(client, session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1)
    session.commit()
    first = permit(session, clock, policy_engine, world, "first")
    clock.advance(days=2)
    expire(session, clock)
    second = permit(session, clock, policy_engine, world, "second")  # takes the freed unit
    assert second.outcome == "permit" and used(session, world) == 1
    headers = bearer(session, clock, world.gateway)
    assert post(client, headers, event(first.id, "ev-1"))["accepted"] == 1
    session.expire_all()
    assert session.get(Decision, first.id).overage is True
    assert used(session, world) == 2


def test_a_late_failure_releases_nothing_more(client, session, clock, policy_engine, world):
    d = permit(session, clock, policy_engine, world)
    other = permit(session, clock, policy_engine, world, "other")
    clock.advance(days=2)
    expire(session, clock)
    headers = bearer(session, clock, world.gateway)
    assert post(client, headers, event(d.id, "ev-1", "failed"))["accepted"] == 1
    assert (state(session, d.id), used(session, world)) == ("released", 0)
    assert state(session, other.id) == "expired"


# -- counts after retries, and reconciliation ----------------------------------------------------------

def reconcile(client, headers, **query):
    response = client.get("/api/v1/reconciliation", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["periods"]


def test_counts_equal_distinct_completed_decisions_after_retries(client, session, clock, policy_engine,
                                                                world, headers):
    """Ten studies; each decision asked for up to three times, usage sent twice, in odd batches."""
    decided = {}
    for i in range(10):
        for _retry in range(1 + i % 3):
            d = permit(session, clock, policy_engine, world, f"study-{i}")
            assert decided.setdefault(i, d.id) == d.id  # a retry returns the same decision
    outcomes = {i: ("completed" if i % 4 else "failed") for i in range(10)}
    events = [event(decided[i], f"ev-{i}", outcomes[i]) for i in range(10)]
    post(client, headers, *events[:6])
    post(client, headers, *events[3:])  # overlapping resend
    post(client, headers, *events)
    completed = sum(1 for o in outcomes.values() if o == "completed")
    period = reconcile(client, headers, licence=world.licence.id)
    assert len(period) == 1
    p = period[0]
    assert (p["permits"], p["completed"], p["released"], p["reserved"], p["expired"]) == (
        10, completed, 10 - completed, 0, 0)
    assert p["quota_used"] == completed and p["consistent"] is True
    assert count(session, UsageEvent, UsageEvent.hospital_id == world.hospital.id) == 10


def test_reconciliation_shows_every_state(client, session, clock, policy_engine, world, headers):
    ds = [permit(session, clock, policy_engine, world, f"s{i}") for i in range(4)]
    post(client, headers, event(ds[0].id, "e0"), event(ds[1].id, "e1", "cancelled"))
    clock.advance(days=2)
    expire(session, clock)  # s2 and s3
    late = permit(session, clock, policy_engine, world, "s4")
    headers = bearer(session, clock, world.gateway)
    post(client, headers, event(ds[2].id, "e2"))  # a late completion of s2
    p, = reconcile(client, headers, licence=world.licence.id, period_start="2026-01-01")
    assert (p["permits"], p["completed"], p["released"], p["expired"], p["reserved"],
            p["quota_used"], p["consistent"]) == (5, 2, 1, 1, 1, 3, True)
    assert p["period_start"] == "2026-01-01" and p["period_end"] == "2026-12-31"
    assert p["licence"]["id"] == world.licence.id and late.reservation == "reserved"
    assert reconcile(client, headers, licence=world.licence.id, period_start="2025-01-01") == []


def test_gateways_see_only_their_own_hospitals_reconciliation(client, session, clock, policy_engine,
                                                              world, headers):
    other = make_world(session, clock)
    session.commit()
    permit(session, clock, policy_engine, other)
    assert reconcile(client, headers, licence=other.licence.id) == []
    only_decide = bearer(session, clock, world.gateway, scope="routing:decide")
    assert client.get("/api/v1/reconciliation", headers=only_decide).status_code == 403


def test_staff_with_usage_read_see_every_licence(client, session, clock, policy_engine, world):
    permit(session, clock, policy_engine, world)
    auditor = session.scalar(select(User).where(User.email == "auditor@demo.aifi.nl"))
    token = issue_user_token(session, clock=clock, user=auditor, ttl=600)
    session.commit()
    staff = {"Authorization": f"Bearer {token.access_token}"}
    p, = reconcile(client, staff, licence=world.licence.id)
    assert p["permits"] == 1 and p["reserved"] == 1
    assert client.get("/api/v1/reconciliation?period_start=June",
                      headers=staff).status_code == 400


def test_cli_expires_stale_reservations(fresh_engine, monkeypatch, tmp_path, policy_engine):
    from click.testing import CliRunner
    from sqlalchemy.orm import sessionmaker

    from registry.cli import main
    from registry.clock import FixedClock
    from registry.db.migrate import upgrade
    from registry.demo import seed_demo

    upgrade(fresh_engine)
    s = sessionmaker(bind=fresh_engine)()
    # The demo world's permits were decided "in 2026": long before the real clock the CLI uses.
    from tests.conftest import DEMO_NOW
    seed_demo(s, clock=FixedClock(DEMO_NOW), engine=policy_engine)
    s.commit()
    open_before = count(s, Decision, Decision.reservation == "reserved")
    s.close()
    assert open_before > 0
    monkeypatch.setenv("REGISTRY_DATABASE_URL", fresh_engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    result = runner.invoke(main, ["usage", "expire", "--batch", "7"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f'{{"expired": {open_before}}}'
    s = sessionmaker(bind=fresh_engine)()
    assert count(s, Decision, Decision.reservation == "reserved") == 0
    # What remains counted is the demo's confirmed (illustrative) usage of the pilot year.
    assert s.scalar(select(func.sum(QuotaCounter.used))) == count(s, Decision, Decision.reservation == "confirmed")
    s.close()
