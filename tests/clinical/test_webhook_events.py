"""The urgent notices the agreement and quota services push: ``agreement.terminated`` when an
agreement ends, ``licence.quota_exhausted`` when a licence's last unit of a period is taken (once
per licence and period). A subscriber gets one signed delivery; anyone else gets none."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.client.webhooks import WebhookVerifier
from registry.db.webhooks import WebhookDelivery
from registry.policy.facts import licence_window
from registry.services import agreements, decisions, quota, webhooks
from tests.factories import SYSTEM, child_hand, make_world

SECRET_KEY = "k" * 40


def _subscribe(session, clock, events, organisation_id=None):  # noqa: ANN001, ANN202
    return webhooks.create_subscription(session, actor=SYSTEM, clock=clock, secret_key=SECRET_KEY,
                                        url="https://ops.example/hook", events=events,
                                        organisation_id=organisation_id)


def _deliveries(session, sub) -> list[WebhookDelivery]:  # noqa: ANN001
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)))


def _sent_payloads(session, clock, subs_and_secrets) -> dict[int, list[dict]]:  # noqa: ANN001
    """Send what is due through a recording sender; each body verified with its subscription's secret."""
    got: list[tuple[bytes, dict[str, str]]] = []
    webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY,
                         send=lambda url, body, headers: got.append((body, headers)) or 204)
    by_sub: dict[int, list[dict]] = {sub.id: [] for sub, _ in subs_and_secrets}
    for body, headers in got:
        for sub, secret in subs_and_secrets:
            delivery = session.get(WebhookDelivery, headers["webhook-id"])
            if delivery.subscription_id == sub.id:
                by_sub[sub.id].append(WebhookVerifier(secret).verify(headers, body, now=clock.now().timestamp()))
    return by_sub


def _terminate(session, clock, agreement_id):  # noqa: ANN001, ANN202
    return agreements.transition_agreement(session, actor=SYSTEM, clock=clock, agreement_id=agreement_id,
                                           to="terminated", note="the vendor left the market",
                                           terminated_on=date(2026, 5, 31), deletion_due_on=date(2026, 6, 30))


def test_terminating_an_agreement_pushes_one_signed_notice_to_its_subscribers(session, clock):
    w = make_world(session, clock)
    other = make_world(session, clock)
    national = _subscribe(session, clock, ["agreement.terminated"])
    hospital = _subscribe(session, clock, ["agreement.terminated"], organisation_id=w.hospital.id)
    processor = _subscribe(session, clock, ["agreement.terminated"], organisation_id=w.operator.id)
    elsewhere = _subscribe(session, clock, ["agreement.terminated"], organisation_id=other.hospital.id)
    other_event = _subscribe(session, clock, ["deployment.suspended", "licence.quota_exhausted"])

    # Suspending is no termination: nothing is pushed for it.
    agreements.transition_agreement(session, actor=SYSTEM, clock=clock, agreement_id=w.agreement.id,
                                    to="suspended", note="audit finding")
    assert _deliveries(session, national[0]) == []
    _terminate(session, clock, w.agreement.id)

    sent = _sent_payloads(session, clock, [national, hospital, processor, elsewhere, other_event])
    for sub, _ in (national, hospital, processor):
        [payload] = sent[sub.id]
        assert payload["event"] == "agreement.terminated"
        assert payload["data"] == {"agreement_id": w.agreement.id, "reference": w.agreement.reference,
                                   "controller_id": w.hospital.id, "processor_id": w.operator.id,
                                   "purposes": ["clinical-care"], "terminated_on": "2026-05-31",
                                   "deletion_due_on": "2026-06-30", "reason": "the vendor left the market"}
    assert sent[elsewhere[0].id] == [] and sent[other_event[0].id] == []
    assert _deliveries(session, elsewhere[0]) == [] and _deliveries(session, other_event[0]) == []


def _decide(session, clock, engine, world, key):  # noqa: ANN001, ANN202
    return decisions.decide(session, actor=world.actor, clock=clock, engine=engine,
                            request=child_hand(world.tool.slug, study_key=key)).decision


def test_the_last_unit_of_a_period_pushes_quota_exhausted_once(session, clock, policy_engine):
    w = make_world(session, clock, quota_limit=2)
    other = make_world(session, clock, quota_limit=1)
    subscriber = _subscribe(session, clock, ["licence.quota_exhausted"], organisation_id=w.hospital.id)
    vendor = _subscribe(session, clock, ["licence.quota_exhausted"], organisation_id=w.vendor.id)
    elsewhere = _subscribe(session, clock, ["licence.quota_exhausted"], organisation_id=other.hospital.id)
    other_event = _subscribe(session, clock, ["agreement.terminated"])

    assert _decide(session, clock, policy_engine, w, "q-1").outcome == "permit"
    assert _deliveries(session, subscriber[0]) == []  # 1 of 2: nothing yet
    assert _decide(session, clock, policy_engine, w, "q-2").outcome == "permit"  # the last unit
    assert len(_deliveries(session, subscriber[0])) == 1
    # Denies afterwards, and a released unit taken again, push nothing more in this period.
    assert _decide(session, clock, policy_engine, w, "q-3").outcome == "deny"
    window = licence_window(w.licence, date(2026, 6, 1))
    quota.release(session, w.licence.id, window.starts_on)
    assert _decide(session, clock, policy_engine, w, "q-4").outcome == "permit"

    sent = _sent_payloads(session, clock, [subscriber, vendor, elsewhere, other_event])
    for sub, _ in (subscriber, vendor):
        [payload] = sent[sub.id]
        assert payload["event"] == "licence.quota_exhausted"
        assert payload["data"] == {"licence_id": w.licence.id, "reference": w.licence.reference,
                                   "hospital_id": w.hospital.id, "tool": w.tool.slug, "limit": 2,
                                   "period_start": window.starts_on.isoformat(),
                                   "period_end": window.ends_on.isoformat(), "on_quota_exhausted": "deny"}
    assert sent[elsewhere[0].id] == [] and sent[other_event[0].id] == []
    assert _deliveries(session, elsewhere[0]) == [] and _deliveries(session, other_event[0]) == []


def test_quota_exhausted_is_pushed_again_in_the_next_period(session, clock, policy_engine):
    w = make_world(session, clock, quota_limit=1, quota_period="month")
    sub, _secret = _subscribe(session, clock, ["licence.quota_exhausted"])
    assert _decide(session, clock, policy_engine, w, "m-1").outcome == "permit"
    clock.advance(days=31)
    assert _decide(session, clock, policy_engine, w, "m-2").outcome == "permit"
    periods = sorted(d.payload["data"]["period_start"] for d in _deliveries(session, sub)
                     if d.payload["data"]["licence_id"] == w.licence.id)
    assert periods == ["2026-06-01", "2026-07-01"]


def test_an_overage_licence_announces_its_quota_once_and_keeps_counting(session, clock, policy_engine):
    w = make_world(session, clock, quota_limit=1, on_quota_exhausted="overage")
    sub, _secret = _subscribe(session, clock, ["licence.quota_exhausted"], organisation_id=w.hospital.id)
    for key in ("o-1", "o-2", "o-3"):
        assert _decide(session, clock, policy_engine, w, key).outcome == "permit"
    [delivery] = _deliveries(session, sub)
    assert delivery.payload["data"]["on_quota_exhausted"] == "overage"
