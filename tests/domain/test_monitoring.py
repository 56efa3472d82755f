"""Wilson intervals, subgroups and the flag rule of pooled monitoring (registry.domain.monitoring)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.monitoring import Counts, Interval, age_band, compare, lies_above, study_subgroup, wilson


def test_wilson_matches_a_hand_computed_case():
    # k = 10 disagreements of n = 50 assessed, z = 1.959963984540054:
    #   p̂ = 0.2, z² = 3.841458820694125, z²/n = 0.0768291764138825, 1 + z²/n = 1.0768291764138825
    #   centre = (p̂ + z²/2n) / (1 + z²/n) = (0.2 + 0.0384145882069413) / 1.0768291764138825
    #          = 0.2214042797400077
    #   half   = z·√(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n) = 1.959963984540054 · √(0.0032 + 0.000384145882069)
    #          / 1.0768291764138825 = 1.959963984540054 · 0.0598677365704552 / 1.0768291764138825
    #          = 0.1089667795822465
    #   interval = (0.1124375, 0.3303711) — the published Wilson interval for 10/50.
    interval = wilson(10, 50)
    assert interval.low == pytest.approx(0.1124375, abs=1e-7)
    assert interval.high == pytest.approx(0.3303711, abs=1e-7)


def test_wilson_ends():
    assert wilson(0, 0) is None
    # k = 0: the low end is 0 exactly, the high end z²/(n + z²) = 3.8415/13.8415 for n = 10.
    assert wilson(0, 10) == Interval(0.0, pytest.approx(3.841458820694125 / 13.841458820694125))
    assert wilson(10, 10).high == 1.0
    with pytest.raises(ValueError):
        wilson(3, 2)


@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_holds_the_rate_within_zero_and_one(kn):
    k, n = kn
    interval = wilson(k, n)
    if n == 0:
        assert interval is None
        return
    assert 0.0 <= interval.low <= k / n <= interval.high <= 1.0


def test_the_flag_rule_on_a_constructed_data_set():
    findings = {f.key: f for f in compare([Counts("A", 30, 100), Counts("B", 5, 100), Counts("C", 5, 100)])}
    # A: 30/100, interval (0.2189, 0.3958), against the others' 10/200 = 0.05: entirely above.
    assert findings["A"].others_rate == pytest.approx(0.05)
    assert findings["A"].interval.low > 0.21 and findings["A"].flagged
    # B: 5/100, interval (0.0215, 0.1118), against 35/200 = 0.175: below, not flagged.
    assert findings["B"].others_rate == pytest.approx(0.175) and not findings["B"].flagged
    assert not findings["C"].flagged


def test_a_higher_rate_whose_interval_reaches_the_others_is_not_flagged():
    # 6/20 = 0.30 against 20/100 = 0.20; the interval (0.145, 0.519) still holds 0.20.
    finding = compare([Counts("small", 6, 20), Counts("rest", 20, 100)])[0]
    assert finding.rate > finding.others_rate and finding.interval.low < finding.others_rate
    assert not finding.flagged


def test_the_others_leave_the_group_itself_out():
    # A large group would hide behind its own weight in the pooled rate of everyone:
    # 60/300 has the interval (0.159, 0.248); everyone's rate 62/320 = 0.194 lies inside it,
    # the others' 2/20 = 0.10 lies below it, so it is flagged.
    big = compare([Counts("big", 60, 300), Counts("small", 2, 20)])[0]
    assert big.interval.low < 62 / 320
    assert big.others_rate == pytest.approx(0.10) and big.flagged


def test_an_interval_that_touches_the_pooled_rate_is_not_flagged():
    # Nobody disagreed anywhere: each interval starts at exactly 0.0, the others' rate is 0.0.
    findings = compare([Counts("D", 0, 20), Counts("E", 0, 30)])
    assert all(f.interval.low == 0.0 == f.others_rate for f in findings)
    assert not any(f.flagged for f in findings)
    assert not lies_above(Interval(0.2, 0.4), 0.2)
    assert lies_above(Interval(0.2000001, 0.4), 0.2)


def test_no_others_no_flag_and_not_assessed_counts_apart():
    only = compare([Counts("alone", 10, 10, not_assessed=5)])[0]
    assert only.others_rate is None and not only.flagged and only.not_assessed == 5
    empty = compare([Counts("none assessed", 0, 0, not_assessed=3), Counts("x", 1, 10)])[0]
    assert empty.rate is None and empty.interval is None and not empty.flagged


def test_subgroups_from_the_stored_request():
    assert study_subgroup({"study": {"patient_age_years": 16.2, "patient_sex": "F", "modality": "DX"}}) == \
        {"age_band": "15-17", "sex": "F", "modality": "DX"}
    assert study_subgroup({"study": {"patient_age": "018M", "modality": "CR"}}) == \
        {"age_band": "0-4", "sex": None, "modality": "CR"}
    assert study_subgroup({"illustrative": True}) == {"age_band": None, "sex": None, "modality": None}
    assert study_subgroup({"study": {"patient_age": "bad"}})["age_band"] is None
    assert [age_band(a) for a in (0, 4.99, 5, 17.9, 18, 64.9, 65, 120)] == \
        ["0-4", "0-4", "5-9", "15-17", "18-44", "45-64", "65+", "65+"]
