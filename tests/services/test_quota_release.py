"""Giving quota back (services/quota.release): only the window named, never below zero."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.db.contracts import QuotaCounter
from registry.domain.quota import Window
from registry.services import quota
from tests.factories import make_world


def _used(session, licence_id, start):
    return session.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == licence_id,
                                                          QuotaCounter.window_start == start))


def test_release_gives_back_in_the_window_named_only_and_never_below_zero(session, clock):
    world = make_world(session, clock, quota_limit=None)
    january, february = (Window(date(2026, 1, 1), date(2026, 1, 31)),
                         Window(date(2026, 2, 1), date(2026, 2, 28)))
    for window, units in ((january, 2), (february, 3)):
        for _ in range(units):
            quota.reserve(session, world.licence.id, window, None, False)
    quota.release(session, world.licence.id, january.starts_on)
    assert (_used(session, world.licence.id, january.starts_on),
            _used(session, world.licence.id, february.starts_on)) == (1, 3)
    quota.release(session, world.licence.id, february.starts_on, units=4)  # one more than was taken
    assert _used(session, world.licence.id, february.starts_on) == 0
    quota.release(session, world.licence.id, february.starts_on)  # nothing left to give back
    assert _used(session, world.licence.id, february.starts_on) == 0
    quota.release(session, world.licence.id, january.starts_on, units=1)
    assert _used(session, world.licence.id, january.starts_on) == 0
