"""Terms are calendar dates in Europe/Amsterdam with inclusive end dates."""

from datetime import date, datetime, timezone

import pytest

from registry.domain.terms import Term, earliest_end, in_force, term_date


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("instant, expected", [
    # Summer (CEST, UTC+2): 21:59Z is 23:59 on the 30th; 22:00Z is already 1 July.
    (utc(2026, 6, 30, 21, 59, 59), date(2026, 6, 30)),
    (utc(2026, 6, 30, 22, 0, 0), date(2026, 7, 1)),
    # Winter (CET, UTC+1): 22:59Z is 23:59 on 31 December; 23:00Z is New Year.
    (utc(2026, 12, 31, 22, 59, 59), date(2026, 12, 31)),
    (utc(2026, 12, 31, 23, 0, 0), date(2027, 1, 1)),
    # Spring DST switch (29 March 2026, 02:00 CET → 03:00 CEST): still the 29th either side.
    (utc(2026, 3, 29, 0, 59, 59), date(2026, 3, 29)),
    (utc(2026, 3, 29, 1, 0, 0), date(2026, 3, 29)),
    (utc(2026, 3, 28, 22, 59, 59), date(2026, 3, 28)),
    (utc(2026, 3, 28, 23, 0, 0), date(2026, 3, 29)),
    # Autumn switch (25 October 2026, 03:00 CEST → 02:00 CET): midnight is 22:00Z before it...
    (utc(2026, 10, 24, 21, 59, 59), date(2026, 10, 24)),
    (utc(2026, 10, 24, 22, 0, 0), date(2026, 10, 25)),
    # ...and 23:00Z after it.
    (utc(2026, 10, 25, 22, 59, 59), date(2026, 10, 25)),
    (utc(2026, 10, 25, 23, 0, 0), date(2026, 10, 26)),
])
def test_term_date_is_the_amsterdam_calendar_day(instant, expected):
    assert term_date(instant) == expected


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        term_date(datetime(2026, 1, 1, 12, 0))


def test_end_date_is_inclusive_and_start_date_too():
    term = Term(date(2026, 1, 1), date(2026, 12, 31))
    assert not term.covers(date(2025, 12, 31))
    assert term.covers(date(2026, 1, 1))
    assert term.covers(date(2026, 12, 31))
    assert not term.covers(date(2027, 1, 1))


def test_open_ended_and_single_day_terms():
    assert Term(date(2026, 1, 1)).covers(date(2099, 1, 1))
    one_day = Term(date(2026, 5, 5), date(2026, 5, 5))
    assert one_day.covers(date(2026, 5, 5)) and not one_day.covers(date(2026, 5, 6))


def test_term_ending_before_start_is_refused():
    with pytest.raises(ValueError):
        Term(date(2026, 2, 1), date(2026, 1, 31))


def test_in_force_without_start_is_not_in_force():
    assert not in_force(None, None, date(2026, 1, 1))
    assert earliest_end(None, date(2026, 3, 1), date(2026, 2, 1)) == date(2026, 2, 1)
    assert earliest_end(None, None) is None
