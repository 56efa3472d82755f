from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.money import allocate, cents_to_decimal, decimal_to_cents
from registry.domain.quota import quota_window


@given(st.integers(min_value=0, max_value=10**9), st.lists(st.integers(min_value=0, max_value=10**6),
                                                           min_size=1, max_size=12))
def test_allocation_adds_up_to_the_cent(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)


def test_allocation_is_proportional_and_deterministic():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(1000, [3, 1]) == [750, 250]


def test_money_is_never_a_float():
    assert decimal_to_cents("12.345") == 1234  # banker's rounding
    assert cents_to_decimal(1234) == Decimal("12.34")
    with pytest.raises(TypeError):
        decimal_to_cents(12.34)


def test_quota_windows_are_clipped_to_the_term():
    term = (date(2026, 3, 15), date(2027, 3, 14))
    assert quota_window("term", *term, date(2026, 6, 1)).ends_on == date(2027, 3, 14)
    year = quota_window("year", *term, date(2026, 6, 1))
    assert (year.starts_on, year.ends_on) == (date(2026, 3, 15), date(2026, 12, 31))
    month = quota_window("month", *term, date(2027, 2, 10))
    assert (month.starts_on, month.ends_on) == (date(2027, 2, 1), date(2027, 2, 28))


# The tests below kill mutants that survived `make mutation` (docs/testing.md).

def test_the_extra_cents_go_to_the_largest_remainders_not_to_the_first_shares():
    # 100 over 3:2:1 is 50, 33.33, 16.67: the one cent left goes to the 0.67, the last share.
    assert allocate(100, [3, 2, 1]) == [50, 33, 17]
    assert allocate(101, [1, 1, 2]) == [25, 25, 51]  # remainders .25, .25, .5
    assert allocate(1, [1, 1]) == [1, 0]  # a tie goes to the earlier share


@pytest.mark.parametrize("total, weights", [(-1, [1]), (10, []), (10, [1, -1]), (10, [-1])])
def test_allocation_refuses_negative_amounts_and_weights(total, weights):
    with pytest.raises(ValueError):
        allocate(total, weights)


def test_allocation_with_all_weights_zero_splits_evenly():
    assert allocate(10, [0, 0, 0]) == [4, 3, 3]


def test_a_term_quota_without_an_end_runs_open_ended():
    window = quota_window("term", date(2026, 1, 1), None, date(2031, 6, 1))
    assert (window.starts_on, window.ends_on) == (date(2026, 1, 1), date(9999, 12, 31))
    year = quota_window("year", date(2026, 1, 1), None, date(2031, 6, 1))
    assert (year.starts_on, year.ends_on) == (date(2031, 1, 1), date(2031, 12, 31))
