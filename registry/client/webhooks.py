"""Verifying the registry's webhook deliveries (Standard Webhooks signatures).

A delivery carries ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers; the
signature is HMAC-SHA256 over ``id.timestamp.body`` with the subscription's secret. A receiver
refuses a wrong signature (tampered, or not from the registry), a timestamp outside the tolerance,
and an id it has already seen (a replay within the tolerance). No server imports here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from typing import Any, Mapping

TOLERANCE_SECONDS = 300


class WebhookInvalid(Exception):
    """A delivery that must not be acted on."""


class WebhookVerifier:
    def __init__(self, secret: str, *, tolerance: int = TOLERANCE_SECONDS, remember: int = 10_000):
        self._secret = secret.encode()
        self.tolerance = tolerance
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> dict[str, Any]:
        """The delivery's payload, if it is authentic, fresh and new; else WebhookInvalid."""
        lower = {k.lower(): v for k, v in headers.items()}
        delivery_id, ts_raw, sigs = (lower.get("webhook-id", ""), lower.get("webhook-timestamp", ""),
                                     lower.get("webhook-signature", ""))
        if not delivery_id or not (ts_raw.isascii() and ts_raw.isdigit()) or not sigs:
            raise WebhookInvalid("missing webhook headers")
        now = time.time() if now is None else now
        ts = int(ts_raw)
        if abs(now - ts) > self.tolerance:
            raise WebhookInvalid("timestamp outside the tolerance (replayed or clock skew)")
        expected = hmac.new(self._secret, f"{delivery_id}.{ts}.".encode() + body, hashlib.sha256).hexdigest()
        # The header may carry several space-separated signatures (during a secret rotation).
        if not any(hmac.compare_digest(f"v1,{expected}", s) for s in sigs.split()):
            raise WebhookInvalid("signature does not match")
        with self._lock:
            if delivery_id in self._seen:
                raise WebhookInvalid("delivery already received (replay)")
            self._seen[delivery_id] = now
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookInvalid("body is not JSON") from None
        if payload.get("id") != delivery_id:
            raise WebhookInvalid("body and headers name different deliveries")
        return payload
