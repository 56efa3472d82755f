"""``licence.quota_exhausted`` from the quota service itself (services/quota.reserve with a clock,
which calls ``announce_exhausted``): who is told, with which facts, and only once per licence and
quota period.

tests/clinical/test_webhook_events.py says the same through a whole decision; this file sits in
tests/services so that the mutation run (which selects tests/services, not tests/clinical) sees
a notice sent to the wrong people, with other fields, or twice.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.db.webhooks import WebhookDelivery
from registry.domain.quota import Window
from registry.services import quota, webhooks
from tests.factories import SYSTEM, make_world

EVENT = "licence.quota_exhausted"
TERM = Window(date(2026, 1, 1), date(2026, 12, 31))


def _subscribe(session, clock, organisation_id=None, events=(EVENT,)):  # noqa: ANN001, ANN202
    sub, _secret = webhooks.create_subscription(session, actor=SYSTEM, clock=clock, secret_key="k" * 40,
                                                url="https://ops.example/hook", events=list(events),
                                                organisation_id=organisation_id)
    return sub


def _notices(session, sub) -> list[dict]:  # noqa: ANN001
    rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id))
    return [row.payload for row in rows]


def _take(session, clock, world, window=TERM, limit=2):  # noqa: ANN001, ANN202
    return quota.reserve(session, world.licence.id, window, limit, False, clock=clock)


def test_the_last_unit_tells_the_hospital_vendor_operator_and_national_subscribers_the_periods_facts(
        session, clock):
    w = make_world(session, clock, quota_limit=2)
    other = make_world(session, clock, quota_limit=2)
    concerned = {"national": _subscribe(session, clock),
                 "hospital": _subscribe(session, clock, w.hospital.id),
                 "vendor": _subscribe(session, clock, w.vendor.id),
                 "operator": _subscribe(session, clock, w.operator.id)}
    elsewhere = _subscribe(session, clock, other.hospital.id)  # another licence's hospital
    other_event = _subscribe(session, clock, events=("agreement.terminated",))

    assert _take(session, clock, w).used == 1
    assert all(_notices(session, sub) == [] for sub in concerned.values())  # a unit is left
    assert _take(session, clock, w).used == 2  # the last one

    for who, sub in concerned.items():
        [notice] = _notices(session, sub)
        assert notice["event"] == EVENT, who
        # The receiver's contract: every field by name, with the licence's and the period's values.
        assert notice["data"] == {"licence_id": w.licence.id, "reference": w.licence.reference,
                                  "hospital_id": w.hospital.id, "tool": w.tool.slug, "limit": 2,
                                  "period_start": "2026-01-01", "period_end": "2026-12-31",
                                  "on_quota_exhausted": "deny"}, who
    assert _notices(session, elsewhere) == [] and _notices(session, other_event) == []


def test_a_released_unit_taken_again_is_not_announced_twice_in_the_same_period(session, clock):
    w = make_world(session, clock, quota_limit=2, quota_period="month")
    hospital = _subscribe(session, clock, w.hospital.id)
    june, july = Window(date(2026, 6, 1), date(2026, 6, 30)), Window(date(2026, 7, 1), date(2026, 7, 31))
    _take(session, clock, w, june)
    _take(session, clock, w, june)
    quota.release(session, w.licence.id, june.starts_on)  # say, a failed study
    assert _take(session, clock, w, june).used == 2  # the last unit again, same period
    assert [n["data"]["period_start"] for n in _notices(session, hospital)] == ["2026-06-01"]
    # A new period is a new quota: its last unit is announced again.
    _take(session, clock, w, july)
    _take(session, clock, w, july)
    periods = sorted(n["data"]["period_start"] for n in _notices(session, hospital))
    assert periods == ["2026-06-01", "2026-07-01"]
