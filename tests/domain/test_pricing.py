"""Pricing and cost allocation: exact to the cent, explained per hospital."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.pricing import (Ceiling, MonthUsage, PriceSchedule, Split, SplitRule, Tier, ToolTerms,
                                     allocate_costs, parse_period, per_month, quota_units, vat_cents)

Q3 = parse_period("2026-Q3")
Q3_MONTHS = Q3.months


def _terms(schedule, usage, months=Q3_MONTHS, tool="BoneXpert"):  # noqa: ANN001, ANN202
    return ToolTerms(tool, schedule, usage, months)


def test_periods():
    assert (parse_period("2026").starts_on, parse_period("2026").ends_on) == (date(2026, 1, 1), date(2026, 12, 31))
    assert (Q3.starts_on, Q3.ends_on, Q3_MONTHS) == (date(2026, 7, 1), date(2026, 9, 30),
                                                      [(2026, 7), (2026, 8), (2026, 9)])
    feb = parse_period("2028-02")
    assert feb.ends_on == date(2028, 2, 29) and feb.months == [(2028, 2)]
    for bad in ("2026-Q5", "2026-13", "26", "2026-7", "", "2026-Q3 "):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_a_tier_crossed_mid_period_sets_the_price_for_all_studies_of_the_period():
    sched = PriceSchedule(unit_price_cents=500, tiers=(Tier(1000, 400), Tier(5000, 300)))
    # July alone stays below 1000; with August the consortium passes it: all studies at 4.00.
    usage = {"A": {(2026, 7): MonthUsage(600)}, "B": {(2026, 7): MonthUsage(300), (2026, 8): MonthUsage(200)}}
    july = allocate_costs(parse_period("2026-07"), ["A", "B"], [_terms(sched, {
        "A": {(2026, 7): MonthUsage(600)}, "B": {(2026, 7): MonthUsage(300)}}, [(2026, 7)])], Split())
    assert july.total_cents == 900 * 500
    quarter = allocate_costs(Q3, ["A", "B"], [_terms(sched, usage)], Split())
    assert quarter.volume == {"BoneXpert": 1100}
    assert quarter.line("A").amount_cents == 600 * 400 and quarter.line("B").amount_cents == 500 * 400
    assert any("tier from 1,000 studies" in e and "1,100" in e for e in quarter.line("A").explanation)


def test_minimum_commitment_is_topped_up_and_split():
    sched = PriceSchedule(unit_price_cents=100, minimum_commitment_cents=120_000)  # 1 200.00 a year
    alloc = allocate_costs(Q3, ["A", "B", "C"], [_terms(sched, {"A": {(2026, 7): MonthUsage(50)}})],
                           Split(SplitRule.EQUAL))
    # Three months of a 1 200.00 minimum is 300.00; usage 50.00; the top-up 250.00 is split equally.
    assert alloc.total_cents == 30_000
    assert [line.amount_cents for line in alloc.lines] == [5000 + 8334, 8333, 8333]
    assert "top-up € 250.00" in alloc.line("B").explanation[-1]
    # Usage above the minimum: no top-up at all.
    busy = allocate_costs(Q3, ["A"], [_terms(sched, {"A": {(2026, 7): MonthUsage(400)}})], Split())
    assert busy.total_cents == 40_000 and not any("minimum" in e for e in busy.line("A").explanation)


def test_overage_beyond_quota_costs_the_overage_price():
    sched = PriceSchedule(unit_price_cents=300, overage_price_cents=400)
    alloc = allocate_costs(Q3, ["A"], [_terms(sched, {"A": {(2026, 8): MonthUsage(100, 7)}})], Split())
    assert alloc.total_cents == 100 * 300 + 7 * 400
    assert "7 beyond quota × € 4.00" in alloc.line("A").explanation[0]


def test_fixed_fee_pro_rata_to_months_and_indexation():
    sched = PriceSchedule(unit_price_cents=0, annual_fee_cents=1_000_000, indexation_bp=300,
                          indexation_on=date(2026, 9, 1))
    alloc = allocate_costs(Q3, ["A", "B"], [_terms(sched, {})], Split())
    # July and August at the base fee (10 000.00 / 12 each), September at +3 %.
    expected = per_month(1_000_000, 7) + per_month(1_000_000, 8) + per_month(1_030_000, 9)
    assert alloc.total_cents == expected and sum(line.amount_cents for line in alloc.lines) == expected
    assert sched.indexed(1000, date(2027, 9, 1)) == 1061  # 10.30 then 10.609 → 10.61
    assert sched.indexed(1000, date(2027, 8, 31)) == 1030
    # Twelve months of a fee add up to the fee exactly.
    assert sum(per_month(100_001, m) for m in range(1, 13)) == 100_001


def test_100_euros_split_three_ways():
    sched = PriceSchedule(unit_price_cents=0, annual_fee_cents=40_000)  # 100.00 a quarter
    alloc = allocate_costs(Q3, ["A", "B", "C"], [_terms(sched, {})], Split())
    assert alloc.total_cents == 10_000
    assert [line.amount_cents for line in alloc.lines] == [3334, 3333, 3333]


def test_one_cent_across_70_hospitals():
    hospitals = [f"H{i:02d}" for i in range(70)]
    sched = PriceSchedule(unit_price_cents=0, annual_fee_cents=12)  # 1 cent a month
    alloc = allocate_costs(parse_period("2026-07"), hospitals, [_terms(sched, {}, [(2026, 7)])], Split())
    assert alloc.total_cents == 1
    assert sorted(line.amount_cents for line in alloc.lines) == [0] * 69 + [1]


def test_pro_rata_with_zero_usage_falls_back_to_equal_shares():
    sched = PriceSchedule(unit_price_cents=100, annual_fee_cents=40_000)
    alloc = allocate_costs(Q3, ["A", "B", "C"], [_terms(sched, {})], Split(SplitRule.PRO_RATA))
    assert [line.amount_cents for line in alloc.lines] == [3334, 3333, 3333]
    assert "no completed studies" in alloc.line("A").explanation[0]
    weighted = allocate_costs(Q3, ["A", "B"], [_terms(sched, {"A": {(2026, 7): MonthUsage(3)},
                                                              "B": {(2026, 7): MonthUsage(1)}})],
                              Split(SplitRule.PRO_RATA))
    assert [line.amount_cents for line in weighted.lines] == [300 + 7500, 100 + 2500]


def test_fixed_percentages():
    sched = PriceSchedule(unit_price_cents=0, annual_fee_cents=40_000)
    alloc = allocate_costs(Q3, ["A", "B"], [_terms(sched, {})], Split(SplitRule.FIXED, {"A": 7000, "B": 3000}))
    assert [line.amount_cents for line in alloc.lines] == [7000, 3000]
    with pytest.raises(ValueError):
        Split(SplitRule.FIXED, {"A": 5000})


def test_ceiling():
    assert Ceiling(studies=1000).breach(900, None) is None
    assert "above the framework's ceiling of 1,000" in Ceiling(studies=1000).breach(1001, None)
    assert "unbounded" in Ceiling(studies=1000).breach(None, None)
    assert "€ 500.00" in Ceiling(cents=50_000).breach(None, 50_001)
    assert Ceiling().breach(None, None) is None
    assert quota_units("year", 100, date(2025, 1, 1), date(2026, 12, 31)) == 200
    assert quota_units("month", 10, date(2026, 1, 15), date(2026, 3, 1)) == 30
    assert quota_units("term", 10, date(2026, 1, 15), date(2026, 3, 1)) == 10


def test_vat():
    assert vat_cents(10_000, 2100) == 2100
    assert vat_cents(5, 2100) == 1  # 1.05 → 1 (half to even would not matter here)
    assert vat_cents(50, 1000) == 5


def test_money_is_whole_cents():
    with pytest.raises(ValueError):
        PriceSchedule(unit_price_cents=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PriceSchedule(unit_price_cents=-1)


usage_st = st.dictionaries(
    st.sampled_from(["A", "B", "C", "D"]),
    st.dictionaries(st.sampled_from(Q3_MONTHS),
                    st.builds(MonthUsage, st.integers(0, 5000), st.integers(0, 200)), max_size=3),
    max_size=4)
schedule_st = st.builds(
    PriceSchedule, unit_price_cents=st.integers(0, 10_000),
    tiers=st.lists(st.builds(Tier, st.integers(1, 20_000), st.integers(0, 10_000)), max_size=3,
                   unique_by=lambda t: t.from_studies).map(tuple),
    annual_fee_cents=st.integers(0, 10**9), minimum_commitment_cents=st.integers(0, 10**9),
    overage_price_cents=st.integers(0, 10_000), indexation_bp=st.integers(0, 1000),
    indexation_on=st.one_of(st.none(), st.dates(date(2020, 1, 1), date(2027, 1, 1))))
split_st = st.one_of(st.just(Split(SplitRule.EQUAL)), st.just(Split(SplitRule.PRO_RATA)),
                     st.just(Split(SplitRule.FIXED, {"A": 2500, "B": 2500, "C": 2500, "D": 2500})),
                     st.just(Split(SplitRule.FIXED, {"A": 3333, "B": 3333, "C": 3334})))


@given(usage=usage_st, schedule=schedule_st, split=split_st)
def test_lines_add_up_to_the_total_to_the_cent(usage, schedule, split):
    hospitals = ["A", "B", "C", "D"]
    alloc = allocate_costs(Q3, hospitals, [_terms(schedule, usage)], split)
    assert sum(line.amount_cents for line in alloc.lines) == alloc.total_cents
    assert all(line.amount_cents >= 0 for line in alloc.lines)
    # A hospital without studies pays only shared amounts, never a per-study charge.
    volume = sum(u.total for months in usage.values() for u in months.values())
    assert alloc.volume["BoneXpert"] == volume
    # The total is at least the minimum commitment for the period (when it is topped up).
    minimum = sum(per_month(schedule.indexed(schedule.minimum_commitment_cents, date(y, m, 1)), m)
                  for y, m in Q3_MONTHS)
    assert alloc.total_cents >= minimum


@given(total=st.integers(0, 10**9), n=st.integers(1, 80))
def test_equal_fee_shares_differ_by_at_most_a_cent(total, n):
    hospitals = [f"H{i}" for i in range(n)]
    sched = PriceSchedule(unit_price_cents=0, annual_fee_cents=total * 12)
    alloc = allocate_costs(parse_period("2026-07"), hospitals, [_terms(sched, {}, [(2026, 7)])], Split())
    amounts = [line.amount_cents for line in alloc.lines]
    assert sum(amounts) == total and max(amounts) - min(amounts) <= 1


# -- burn-down and alerts ------------------------------------------------------------------------------

from registry.domain.burndown import alert_level, burn_down  # noqa: E402


def test_burn_down_forecasts_the_day_the_quota_runs_out():
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    daily = {date(2026, 1, d): 2 for d in range(1, 11)}  # 20 studies in the first ten days
    bd = burn_down(100, daily, start, end, date(2026, 1, 10))
    assert bd.used == 20 and bd.points[-1] == (date(2026, 1, 10), 20)
    assert bd.runs_out_on == date(2026, 2, 19)  # 80 more at 2 a day: 40 days after 10 January
    assert bd.alert is None
    assert burn_down(100, {}, start, end, date(2026, 1, 10)).runs_out_on is None
    slow = burn_down(1000, daily, start, end, date(2026, 1, 10))
    assert slow.runs_out_on is None  # not within the window
    done = burn_down(15, daily, start, end, date(2026, 1, 10))
    assert done.runs_out_on == date(2026, 1, 8) and done.alert == 100


def test_alerts_at_80_and_100_percent():
    assert [alert_level(100, n) for n in (0, 79, 80, 99, 100, 120)] == [None, None, 80, 80, 100, 100]
    assert alert_level(None, 5) is None and alert_level(0, 0) is None
