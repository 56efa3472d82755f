"""The monthly usage rollup (usage_monthly, migration 0011) stays exact: every way a decision
becomes or stops being confirmed is counted by the database's triggers, compaction never changes a
sum, and the statements' counts are those of the decisions (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, delete, func, select, update

from registry.db.decisions import Decision, UsageMonthly
from registry.domain.pricing import parse_period
from registry.services import usage as usage_service
from registry.services import usage_rollup
from registry.services.allocation import monthly_usage
from tests.factories import bearer, make_world
from tests.usage.test_usage_metering import event, expire, permit, post

JUNE = parse_period("2026-06")


def june(session, licence_id):
    u = monthly_usage(session, [licence_id], JUNE).get(licence_id, {}).get((2026, 6))
    return (u.within_quota, u.overage) if u else (0, 0)


def rows(session, licence_id):
    return session.scalar(select(func.count()).select_from(UsageMonthly).where(UsageMonthly.licence_id == licence_id))


def test_the_demo_worlds_rollup_equals_the_decisions(session):
    # The demo's year of illustrative usage is inserted in bulk: the triggers counted every row.
    assert session.scalar(select(func.count()).select_from(UsageMonthly)) > 0
    assert usage_rollup.differences(session) == {}


def test_every_change_of_a_confirmation_is_counted(client, session, clock, policy_engine, world, headers):
    lic = world.licence.id
    done, failed, late = (permit(session, clock, policy_engine, world, k) for k in ("done", "failed", "late"))
    assert june(session, lic) == (0, 0)  # reserved is not billable
    post(client, headers, event(done.id, "ev-1"), event(failed.id, "ev-2", outcome="failed"))
    assert june(session, lic) == (1, 0)
    clock.advance(days=2)
    expire(session, clock)  # "late" expires: still not billable
    assert june(session, lic) == (1, 0)
    post(client, bearer(session, clock, world.gateway), event(late.id, "ev-3", at="2026-06-01T11:00:00Z"))
    assert june(session, lic) == (2, 0)  # a late completion is billable
    # Changes no service makes today are counted all the same: a decision moved to overage,
    # un-confirmed, or deleted.
    session.execute(update(Decision).where(Decision.id == done.id).values(overage=True))
    assert june(session, lic) == (1, 1)
    session.execute(update(Decision).where(Decision.id == done.id).values(reservation="released"))
    assert june(session, lic) == (1, 0)
    session.execute(update(Decision).where(Decision.id == late.id).values(finalised_at=clock.now()))
    assert june(session, lic) == (1, 0)
    extra = permit(session, clock, policy_engine, world, "extra")
    session.execute(update(Decision).where(Decision.id == extra.id).values(reservation="confirmed"))
    assert june(session, lic) == (2, 0)
    session.execute(delete(Decision).where(Decision.id == extra.id))
    assert june(session, lic) == (1, 0)
    assert usage_rollup.differences(session) == {}


def test_compaction_folds_rows_and_keeps_every_sum(client, session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=None)
    session.commit()
    lic = world.licence.id
    headers = bearer(session, clock, world.gateway)
    ds = [permit(session, clock, policy_engine, world, f"s{i}") for i in range(4)]
    # The API folds after each report (its sweep); here the service alone, so nothing is folded yet.
    # One report each: on PostgreSQL a report's batch appends one row per key (migration 0013).
    for i, d in enumerate(ds):
        usage_service.report_usage(session, actor=world.actor, clock=clock, events=[event(d.id, f"ev-{i}")])
        session.commit()
    assert rows(session, lic) == 4 and june(session, lic) == (4, 0)
    removed = usage_rollup.compact(session)
    assert removed >= 3 and rows(session, lic) == 1 and june(session, lic) == (4, 0)
    # A key whose rows add up to zero leaves none.
    session.execute(update(Decision).where(Decision.id.in_([d.id for d in ds])).values(reservation="released"))
    usage_rollup.compact(session)
    assert rows(session, lic) == 0 and june(session, lic) == (0, 0)
    assert usage_rollup.differences(session) == {}
    assert usage_rollup.compact(session) == 0


def test_the_api_folds_the_rollup_after_a_report(client, session, clock, policy_engine, world, headers):
    ds = [permit(session, clock, policy_engine, world, f"s{i}") for i in range(3)]
    post(client, headers, *(event(d.id, f"ev-{i}") for i, d in enumerate(ds)))
    assert rows(session, world.licence.id) == 1 and june(session, world.licence.id) == (3, 0)


def test_a_period_counts_its_whole_months_only(session, clock, policy_engine, world):
    d = permit(session, clock, policy_engine, world)
    session.execute(update(Decision).where(Decision.id == d.id).values(reservation="confirmed",
                                                                     evaluated_on=date(2026, 7, 31)))
    july = parse_period("2026-07")
    assert monthly_usage(session, [world.licence.id], july)[world.licence.id][(2026, 7)].total == 1
    assert monthly_usage(session, [world.licence.id], JUNE) == {}


def test_one_statement_moving_many_decisions_is_counted_exactly(session, clock, policy_engine, world):
    """What a usage report's batch does: one UPDATE moving many decisions, here in every way at once
    (confirmed, released from confirmed, moved to overage, to another month, confirmed and left
    alone). On PostgreSQL the trigger runs once for the statement (migration 0013) and appends one
    row per key that moved; on SQLite one per decision. The sums are the decisions' either way."""
    lic = world.licence.id
    ds = [permit(session, clock, policy_engine, world, f"m{i}") for i in range(8)]
    ids = [d.id for d in ds]
    session.execute(update(Decision).where(Decision.id.in_(ids[4:])).values(reservation="confirmed"))
    assert june(session, lic) == (4, 0) and usage_rollup.differences(session) == {}
    before = rows(session, lic)
    session.execute(update(Decision).where(Decision.id.in_(ids)).values(
        reservation=case((Decision.id == ids[4], "released"), else_="confirmed"),
        overage=Decision.id.in_([ids[0], ids[5]]),
        evaluated_on=case((Decision.id == ids[6], date(2026, 7, 1)), else_=Decision.evaluated_on),
        finalised_at=clock.now()))
    # June: ids 0-3 newly confirmed (0 as overage), 4 released, 5 to overage, 6 to July, 7 unchanged.
    assert june(session, lic) == (4, 2)
    assert monthly_usage(session, [lic], parse_period("2026-07"))[lic][(2026, 7)].total == 1
    assert usage_rollup.differences(session) == {}
    appended = rows(session, lic) - before
    if session.get_bind().dialect.name == "postgresql":
        # June within quota adds up to nothing (+3 for 1-3, -1 each for 4, 5 and 6; 7 is -1 +1):
        # no row. June overage +2, July +1: a row each.
        assert appended == 2
    else:
        assert appended == 9  # one per decision and side that moved: 0-3, 4, 5 and 6 twice; not 7
