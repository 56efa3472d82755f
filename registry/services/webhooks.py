"""Urgent notices pushed to subscribers (a gateway, an operator's system) instead of polled.

An event (a suspension, an incident deadline due, …) becomes one delivery per matching
subscription, in the same transaction as the change that caused it; a runner (``registry webhooks
deliver``) sends the due deliveries, signed, and retries failures with back-off. Signatures follow
the Standard Webhooks scheme: HMAC-SHA256 over ``id.timestamp.body`` with the subscription's secret,
so a receiver refuses a changed body, another sender, and (by id and timestamp) a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Collection
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.auth.secretbox import seal, unseal
from registry.clock import Clock
from registry.db.webhooks import WebhookDelivery, WebhookSubscription
from registry.permissions import Permission
from registry.services._rows import create_row, update_row
from registry.services.errors import ValidationFailed

EVENTS = ("deployment.suspended", "tool_version.suspended", "incident.deadline_due",
          "agreement.terminated", "licence.quota_exhausted")
SECRET_PREFIX = "whsec_"
# Delivery ids of once-only events (``enqueue(once_key=...)``) are UUIDv5 under this namespace.
_ONCE_NAMESPACE = uuid.UUID("5f0c7a53-9d1e-4c2b-8a61-3e7f2b9d4c10")
_SEAL_PURPOSE = "webhook-secret"
# Retries after a failed attempt: 30 s, 2 min, 10 min, 1 h, 6 h; then the delivery has failed.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1),
           timedelta(hours=6))
MAX_ATTEMPTS = len(BACKOFF) + 1

Sender = Callable[[str, bytes, dict[str, str]], int]  # (url, body, headers) → HTTP status


def _context(sub_id: int) -> str:
    return f"webhook_subscriptions:{sub_id}"


def create_subscription(session: Session, *, actor: Actor, clock: Clock, secret_key: str, url: str,
                        events: list[str], organisation_id: int | None = None) -> tuple[WebhookSubscription, str]:
    """A subscription and its signing secret (shown once; stored sealed, since we sign with it)."""
    actor.require(Permission.GATEWAYS_MANAGE)
    parts = urlsplit(url)
    errors = {}
    if parts.scheme not in ("https", "http") or not parts.hostname:
        errors["url"] = "an http(s) URL"
    elif parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        errors["url"] = "https, except on loopback"
    unknown = sorted(set(events) - set(EVENTS))
    if not events or unknown:
        errors["events"] = "one or more of " + ", ".join(EVENTS)
    if errors:
        raise ValidationFailed("invalid subscription", errors)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    sub = WebhookSubscription(organisation_id=organisation_id, url=url, events=sorted(set(events)),
                              secret_sealed="pending")
    create_row(session, actor=actor, clock=clock, permission=Permission.GATEWAYS_MANAGE, row=sub,
               message="webhook subscription created")
    # Sealed against its own row, so a sealed secret copied to another row does not open there.
    sub.secret_sealed = seal(secret, secret_key=secret_key, purpose=_SEAL_PURPOSE, context=_context(sub.id))
    session.flush()
    return sub, secret


def set_subscription_active(session: Session, *, actor: Actor, clock: Clock, subscription_id: int,
                            active: bool) -> WebhookSubscription:
    actor.require(Permission.GATEWAYS_MANAGE)
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None:
        from registry.services.errors import NotFound

        raise NotFound(f"no webhook subscription {subscription_id}")
    return update_row(session, actor=actor, clock=clock, permission=Permission.GATEWAYS_MANAGE, row=sub,
                      changes={"active": active}, action="enable" if active else "disable")


def enqueue(session: Session, *, clock: Clock, event: str, data: dict[str, Any],
            organisation_id: int | Collection[int] | None = None,
            once_key: str | None = None) -> list[WebhookDelivery]:
    """One delivery per active subscription to ``event``: national subscribers get every event,
    an organisation's subscriptions only those concerning it (``organisation_id``: one organisation
    or several, such as both parties of an agreement; None: everyone).

    With ``once_key`` the event is sent at most once per subscription for that key (say, a
    licence's quota period): the delivery's id is derived from it, and an existing one is kept.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    concerned = ({organisation_id} if isinstance(organisation_id, int)
                 else None if organisation_id is None else set(organisation_id))
    now = clock.now()
    out = []
    for sub in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active)):
        if event not in (sub.events or []):
            continue
        if sub.organisation_id is not None and concerned is not None and sub.organisation_id not in concerned:
            continue
        if once_key is None:
            delivery_id = str(uuid.uuid4())
        else:
            delivery_id = str(uuid.uuid5(_ONCE_NAMESPACE, f"{sub.id}\x1f{event}\x1f{once_key}"))
            if session.get(WebhookDelivery, delivery_id) is not None:
                continue
        payload = {"id": delivery_id, "event": event, "created_at": now.isoformat().replace("+00:00", "Z"),
                   "data": data}
        row = WebhookDelivery(id=delivery_id, subscription_id=sub.id, event=event, payload=payload,
                              next_attempt_at=now, created_at=now)
        session.add(row)
        out.append(row)
    session.flush()
    return out


def signature(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base16 HMAC-SHA256 of id.timestamp.body>``: what the receiver recomputes."""
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + mac.hexdigest()


def signed_request(secret: str, delivery: WebhookDelivery, now: datetime) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    ts = int(now.timestamp())
    return body, {"Content-Type": "application/json", "webhook-id": delivery.id,
                  "webhook-timestamp": str(ts), "webhook-signature": signature(secret, delivery.id, ts, body)}


def http_sender(url: str, body: bytes, headers: dict[str, str]) -> int:
    import requests

    # No redirects: the signed body goes to the registered URL and nowhere else.
    return requests.post(url, data=body, headers=headers, timeout=5, allow_redirects=False).status_code


def deliver_due(session: Session, *, clock: Clock, secret_key: str, send: Sender = http_sender,
                limit: int = 100) -> list[WebhookDelivery]:
    """Send the deliveries that are due; a failure is retried later with back-off, and every
    attempt's outcome stays on the delivery (the delivery log)."""
    now = clock.now()
    due = list(session.scalars(select(WebhookDelivery)
                               .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                               .order_by(WebhookDelivery.next_attempt_at).limit(limit)))
    for d in due:
        sub = session.get(WebhookSubscription, d.subscription_id)
        status, error = None, None
        try:
            secret = unseal(sub.secret_sealed, secret_key=secret_key, purpose=_SEAL_PURPOSE,
                            context=_context(sub.id))
            body, headers = signed_request(secret, d, now)
            status = send(sub.url, body, headers)
        except Exception as exc:  # noqa: BLE001 - any failure is a failed attempt, logged on the row
            error = type(exc).__name__
        d.attempts += 1
        d.last_status, d.last_error = status, error
        if status is not None and 200 <= status < 300:
            d.status, d.delivered_at = "delivered", now
        elif d.attempts >= MAX_ATTEMPTS:
            d.status = "failed"
        else:
            d.next_attempt_at = now + BACKOFF[d.attempts - 1]
    session.flush()
    return due
