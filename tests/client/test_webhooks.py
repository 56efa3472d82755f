"""Urgent notices pushed to gateways: signed, timestamped deliveries; a tampered or replayed one is
refused by the client; a failing endpoint is retried with back-off; the client refreshes its bundle.
Every request stays on loopback."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from registry.client import RegistryClient
from registry.client.webhooks import WebhookInvalid, WebhookVerifier
from registry.db.webhooks import WebhookDelivery
from registry.services import deployments, gateways, webhooks
from tests.factories import CLINICAL_OWNER, SYSTEM, make_world

SECRET_KEY = "k" * 40


class Receiver:
    """A loopback endpoint answering with the queued statuses (then 200), keeping what it got."""

    def __init__(self, statuses=()):  # noqa: ANN001
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []

        @Request.application
        def app(request):  # noqa: ANN001, ANN202
            self.received.append((dict(request.headers), request.get_data()))
            return Response("", status=self.statuses.pop(0) if self.statuses else 200)

        self.server = make_server("127.0.0.1", 0, app, threaded=False)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _subscribe(session, clock, url):  # noqa: ANN001, ANN202
    return webhooks.create_subscription(session, actor=SYSTEM, clock=clock, secret_key=SECRET_KEY, url=url,
                                        events=["deployment.suspended", "tool_version.suspended"])


def test_a_delivery_verifies_with_its_secret_and_tampering_or_replay_is_refused(session, clock, receiver):
    w = make_world(session, clock)
    sub, secret = _subscribe(session, clock, receiver.url)
    assert sub.secret_sealed != secret and secret not in sub.secret_sealed
    deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id,
                                   reason="risk found")
    sent = webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY)
    assert [d.status for d in sent] == ["delivered"]
    headers, body = receiver.received[0]
    now = clock.now().timestamp()
    verifier = WebhookVerifier(secret)
    payload = verifier.verify(headers, body, now=now)
    assert payload["event"] == "deployment.suspended" and payload["data"]["deployment_id"] == w.deployment.id
    # The same delivery again is a replay; a changed body or another secret does not verify.
    with pytest.raises(WebhookInvalid, match="replay"):
        verifier.verify(headers, body, now=now)
    tampered = body.replace(b"risk found", b"all clear")
    with pytest.raises(WebhookInvalid, match="signature"):
        WebhookVerifier(secret).verify(headers, tampered, now=now)
    with pytest.raises(WebhookInvalid, match="signature"):
        WebhookVerifier("whsec_other").verify(headers, body, now=now)
    # An old delivery replayed later (a fresh receiver that never saw it) is refused by its timestamp.
    with pytest.raises(WebhookInvalid, match="timestamp"):
        WebhookVerifier(secret).verify(headers, body, now=now + 600)


def test_a_failing_endpoint_is_retried_with_back_off(session, clock):
    receiver = Receiver(statuses=[500, 503])
    try:
        w = make_world(session, clock)
        _subscribe(session, clock, receiver.url)
        deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock,
                                       deployment_id=w.deployment.id, reason="risk")
        (d,) = webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY)
        assert (d.status, d.attempts, d.last_status) == ("pending", 1, 500)
        assert d.next_attempt_at == clock.now() + webhooks.BACKOFF[0]
        # Not due yet: nothing is sent.
        assert webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY) == []
        clock.advance(seconds=31)
        (d,) = webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY)
        assert (d.status, d.attempts, d.last_status) == ("pending", 2, 503)
        clock.current += webhooks.BACKOFF[1]
        (d,) = webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY)
        assert (d.status, d.attempts, d.last_status) == ("delivered", 3, 200)
        assert len(receiver.received) == 3
        # Every attempt carries the same delivery id (the receiver's replay key).
        assert len({h["Webhook-Id"] for h, _ in receiver.received}) == 1
    finally:
        receiver.close()


def test_an_unreachable_endpoint_fails_after_the_last_retry(session, clock):
    w = make_world(session, clock)
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more (loopback: connection refused)
    _subscribe(session, clock, url)
    deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id,
                                   reason="risk")
    for wait in (timedelta(0),) + webhooks.BACKOFF:
        clock.current += wait
        (d,) = webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY)
    assert (d.status, d.attempts, d.last_error) == ("failed", webhooks.MAX_ATTEMPTS, "ConnectionError")


def test_subscriptions_refuse_plain_http_off_loopback_and_unknown_events(session, clock):
    from registry.services.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        webhooks.create_subscription(session, actor=SYSTEM, clock=clock, secret_key=SECRET_KEY,
                                     url="http://ops.example/hook", events=["nonsense"])
    assert set(exc.value.fields) == {"url", "events"}


def test_the_client_refreshes_its_bundle_on_a_verified_notice(session, clock, live, receiver):
    w = make_world(session, clock)
    session.commit()
    secret_gw = gateways.add_credential(session, actor=SYSTEM, clock=clock, gateway=w.gateway, public_jwk=None)
    sub, secret = _subscribe(session, clock, receiver.url)
    session.commit()
    c = RegistryClient(live.url, w.gateway.client_id, client_secret=secret_gw, now=clock.now, backoff=0.01)
    assert [t["tool"] for t in c.refresh_bundle()["tools"]] == [w.tool.slug]
    deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id,
                                   reason="risk")
    webhooks.deliver_due(session, clock=clock, secret_key=SECRET_KEY)
    session.commit()
    headers, body = receiver.received[0]
    verifier = WebhookVerifier(secret)
    # A tampered notice changes nothing: refused before the bundle is touched.
    with pytest.raises(WebhookInvalid):
        c.handle_webhook(verifier, headers, body.replace(b"risk", b"fine"), )
    assert [t["tool"] for t in c.bundle["tools"]] == [w.tool.slug]
    c.handle_webhook(verifier, headers, body)
    assert c.bundle["tools"] == []  # the suspended deployment is gone from the bundle at once
    assert json.loads(body)["id"] == session.get(WebhookDelivery, json.loads(body)["id"]).id
