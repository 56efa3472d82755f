"""RegistryClient: what a hospital gateway uses to talk to the registry.

Online it asks the registry for every decision (retrying with the same ``study_key``, so a retry
finds the same decision and reserves nothing more) and reports usage in batches. When the registry
cannot be reached (connection error, timeout, 502/503/504) it decides from the last *verified*,
*unexpired* signed bundle only, within the bundle's per-tool offline allowance, and keeps what it
did offline to regularise later. Secrets, tokens and assertions are never logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from registry.client.offline import judge
from registry.client.store import LocalStore

log = logging.getLogger("registry.client")

DEFAULT_SCOPE = "routing:decide usage:report bundle:read feedback:report"
BUNDLE_TYP = "aifi-bundle+jwt"
MAX_BATCH = 1000
# Algorithms we accept on the registry's signatures: the fully specified Ed25519 (RFC 9864) only.
BUNDLE_ALGORITHMS = ["Ed25519"]
_UNAVAILABLE_STATUS = {502, 503, 504}


class RegistryUnavailable(Exception):
    """The registry could not be reached (or answered 502/503/504)."""


class RegistryError(Exception):
    """The registry answered with an error that retrying will not fix (4xx)."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"registry answered {status}: {body}")
        self.status, self.body = status, body


class BundleInvalid(Exception):
    """A bundle failed verification (signature, key, issuer, subject or expiry); never used."""


@dataclass
class Decision:
    decision: str  # "permit" or "deny"
    decision_id: str | None  # None for offline decisions
    reasons: list[dict[str, Any]]
    offline: bool = False
    offline_id: str | None = None  # local id of an offline decision, for reporting its usage
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def permit(self) -> bool:
        return self.decision == "permit"


@dataclass
class FlushResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0  # still queued (registry unreachable)


@dataclass
class OfflineRecord:
    """A decision made offline, kept until it is regularised with the registry."""

    offline_id: str
    request: dict[str, Any]
    decided_at: datetime
    outcome: str | None = None  # usage outcome reported by the gateway, if any
    occurred_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(asdict(self), decided_at=self.decided_at.isoformat())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OfflineRecord":
        return cls(**dict(data, decided_at=datetime.fromisoformat(data["decided_at"])))


class RegistryClient:
    """A gateway's client. Thread-safe for the queue and token; one instance per gateway.

    Authenticate with ``client_secret`` (client_secret_basic) or ``private_key`` (an Ed25519
    private key as PEM bytes, a JWK dict or a joserfc OKPKey; private_key_jwt).

    With ``state_path`` the usage queue, refused events, offline permits and the verified bundle
    are kept in that SQLite file (:class:`LocalStore`) and read back on start: a gateway that is
    restarted, or killed in the middle of a batch, reports every event once and loses none.
    Without it they live in memory only.
    """

    def __init__(self, base_url: str, client_id: str, *, client_secret: str | None = None,
                 private_key: Any = None, scope: str = DEFAULT_SCOPE, timeout: float = 5.0,
                 retries: int = 2, backoff: float = 0.2, issuer: str | None = None,
                 http: requests.Session | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 state_path: str | Path | None = None):
        if (client_secret is None) == (private_key is None):
            raise ValueError("give exactly one of client_secret or private_key")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._key = _load_private_key(private_key) if private_key is not None else None
        self.scope = scope
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        # The bundle's iss must be the registry's issuer (its public URL), usually base_url.
        self.issuer = (issuer or self.base_url).rstrip("/")
        self.http = http or requests.Session()
        self.now = now
        self._lock = threading.RLock()
        self._token: str | None = None
        self._token_expires = 0.0
        self._queue: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []  # usage events the registry refused, for a human
        self._bundle_jws: str | None = None
        self._bundle: dict[str, Any] | None = None
        self._bundle_etag: str | None = None
        self._jwks: KeySet | None = None
        self._offline_used: dict[tuple[int, str], int] = {}
        self._offline_by_key: dict[tuple[str, str, str], Decision] = {}
        self.offline_records: dict[str, OfflineRecord] = {}
        self.unreconciled: list[OfflineRecord] = []
        self._store = LocalStore(state_path) if state_path is not None else None
        if self._store is not None:
            self._restore(self._store)

    def _restore(self, store: LocalStore) -> None:
        """Read back what a previous run of this gateway kept (see :class:`LocalStore`)."""
        self._queue = store.queue()
        self.rejected = store.rejected()
        self._offline_used = store.offline_used()
        self.unreconciled = [OfflineRecord.from_json(r) for r in store.unreconciled()]
        for data in store.offline_records():
            record = OfflineRecord.from_json(data)
            self.offline_records[record.offline_id] = record
            body = record.request
            key = (body["tool"], body["purpose"], body["study"].get("study_key", ""))
            self._offline_by_key[key] = Decision("permit", None, [], offline=True,
                                                 offline_id=record.offline_id)
        if store.get("jwks"):
            self._jwks = KeySet.import_key_set(json.loads(store.get("jwks")))
        token = store.get("bundle_jws")
        if token:
            try:
                self._bundle = self._verify(token)
                self._bundle_jws, self._bundle_etag = token, store.get("bundle_etag")
            except BundleInvalid:
                pass  # expired (or keys gone) while the gateway was down: never used

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- HTTP ---------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, auth: bool = True, retry: bool = True,
              headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        """One call with retries (exponential backoff) while the registry is unreachable; a 401
        fetches a new token once (it may have expired or been revoked)."""
        attempts = 1 + (self.retries if retry else 0)
        refreshed = False
        last = "no attempt"
        attempt = 0
        while attempt < attempts:
            sent = dict(headers or {})
            try:
                if auth:
                    sent["Authorization"] = f"Bearer {self.access_token()}"
                response = self.http.request(method, self.base_url + path, headers=sent,
                                             timeout=self.timeout, **kw)
            except RegistryUnavailable as exc:  # the token endpoint itself is unreachable
                last = str(exc)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = type(exc).__name__
            else:
                if response.status_code == 401 and auth and not refreshed:
                    refreshed = True
                    with self._lock:
                        self._token = None
                    continue  # not counted as an attempt
                if response.status_code not in _UNAVAILABLE_STATUS:
                    return response
                last = f"HTTP {response.status_code}"
            attempt += 1
            if attempt < attempts:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
        raise RegistryUnavailable(f"{method} {path}: {last}")

    @staticmethod
    def _json_or_raise(response: requests.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = response.text[:200]
        if response.status_code >= 400:
            raise RegistryError(response.status_code, body)
        return body

    # -- tokens ---------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token, fetched (client credentials grant) when missing or near expiry."""
        with self._lock:
            if self._token and time.monotonic() < self._token_expires - 30:
                return self._token
            data = {"grant_type": "client_credentials", "scope": self.scope}
            auth = None
            if self._secret is not None:
                auth = (self.client_id, self._secret)  # RFC 6749 §2.3.1 client_secret_basic
            else:
                data.update({"client_id": self.client_id,
                             "client_assertion_type":
                                 "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                             "client_assertion": self._assertion()})
            try:
                response = self.http.post(self.base_url + "/oauth/token", data=data, auth=auth,
                                          timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise RegistryUnavailable(f"token endpoint: {type(exc).__name__}") from None
            if response.status_code in _UNAVAILABLE_STATUS:
                raise RegistryUnavailable(f"token endpoint: {response.status_code}")
            body = self._json_or_raise(response)
            self._token = body["access_token"]
            self._token_expires = time.monotonic() + int(body.get("expires_in", 60))
            return self._token

    def _assertion(self) -> str:
        """RFC 7523 client assertion, signed with the gateway's Ed25519 key (alg Ed25519)."""
        now = int(self.now().timestamp())
        claims = {"iss": self.client_id, "sub": self.client_id,
                  "aud": self.base_url + "/oauth/token", "iat": now, "exp": now + 60,
                  "jti": secrets.token_urlsafe(24)}
        header = {"alg": "Ed25519", "typ": "JWT"}
        kid = self._key.kid if self._key.kid else None
        if kid:
            header["kid"] = kid
        return jws.serialize_compact(header, json.dumps(claims).encode(), self._key,
                                     algorithms=["Ed25519"])

    # -- decisions --------------------------------------------------------------------------------------

    def decide(self, *, tool: str, purpose: str, study: dict[str, Any],
               patient_pseudonym: str | None = None, tool_version: str | None = None) -> Decision:
        """Ask the registry; if it is unreachable, decide from the verified bundle (fail closed)."""
        body: dict[str, Any] = {"tool": tool, "purpose": purpose, "study": study}
        if patient_pseudonym:
            body["patient_pseudonym"] = patient_pseudonym
        if tool_version:
            body["tool_version"] = tool_version
        try:
            response = self._send("POST", "/api/v1/decisions", json=body)
        except RegistryUnavailable:
            return self._decide_offline(body)
        answer = self._json_or_raise(response)
        return Decision(answer["decision"], answer["decision_id"], answer.get("reasons", []),
                        raw=answer)

    def _decide_offline(self, body: dict[str, Any]) -> Decision:
        key = (body["tool"], body["purpose"], body["study"].get("study_key", ""))
        with self._lock:
            if key in self._offline_by_key:  # a retry offline: the same answer, no second unit
                return self._offline_by_key[key]
            # Verified when it was received (signature, issuer, subject); judge() checks exp.
            payload = self._bundle
            used_key = (payload["iat"] if payload else 0, body["tool"])
            verdict = judge(payload, tool=body["tool"], purpose=body["purpose"],
                            study=body["study"], now=self.now(), used=self._offline_used.get(used_key, 0))
            if not verdict.permit:
                # Not cached: a deny offline is re-asked next time (the registry may be back).
                return Decision("deny", None, [{"code": verdict.code, "detail": verdict.detail}],
                                offline=True)
            offline_id = "offline-" + uuid.uuid4().hex
            record = OfflineRecord(offline_id, body, self.now())
            if self._store is not None:  # kept before the permit is acted on
                self._store.save_offline(record.to_json(), used_key)
            self._offline_used[used_key] = self._offline_used.get(used_key, 0) + 1
            self.offline_records[offline_id] = record
            decision = Decision("permit", None, [], offline=True, offline_id=offline_id,
                                raw={"code": verdict.code})
            self._offline_by_key[key] = decision
            log.warning("registry unreachable: %s permitted offline from the bundle", body["tool"])
            return decision

    # -- radiologists' feedback ---------------------------------------------------------------------------

    def report_feedback(self, decision: Decision | str, *, assessor: str, assessment: str,
                        category: str | None = None) -> dict[str, Any]:
        """Report one radiologist's assessment (``agree``, ``disagree``, ``not-assessed``) of a
        routed study; returns the stored record (``duplicate`` true when it was counted before).

        ``assessor`` is the hospital's opaque identifier for the radiologist, never a name or an
        e-mail address. Sent at once, not queued: a retry is safe, since the registry counts once
        per (decision, assessor). An offline permit has no registry decision to assess yet.
        """
        if isinstance(decision, Decision) and decision.offline:
            raise ValueError("an offline permit has no registry decision id; report feedback after "
                             "it is regularised")
        decision_id = decision.decision_id if isinstance(decision, Decision) else decision
        body: dict[str, Any] = {"decision_id": decision_id, "assessor": assessor, "assessment": assessment}
        if category is not None:
            body["category"] = category
        return self._json_or_raise(self._send("POST", "/api/v1/feedback", json=body))

    # -- usage ------------------------------------------------------------------------------------------

    def report(self, decision: Decision | str, outcome: str, *, occurred_at: datetime | None = None,
               event_id: str | None = None) -> str:
        """Queue one usage event (``completed``, ``failed`` or ``cancelled``); returns its event id.

        The event id is made once, here, and kept with the queued event: a re-sent batch carries
        the same ids, so the registry counts each event once.
        """
        if outcome not in ("completed", "failed", "cancelled"):
            raise ValueError("outcome must be completed, failed or cancelled")
        at = (occurred_at or self.now()).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        with self._lock:
            if isinstance(decision, Decision) and decision.offline:
                record = self.offline_records[decision.offline_id]
                record.outcome, record.occurred_at = outcome, at
                if self._store is not None:
                    self._store.save_offline(record.to_json())
                return decision.offline_id
            decision_id = decision.decision_id if isinstance(decision, Decision) else decision
            event = {"event_id": event_id or uuid.uuid4().hex, "decision_id": decision_id,
                     "outcome": outcome, "occurred_at": at}
            if self._store is not None:
                self._store.enqueue(event)  # on disk before the caller is told it is queued
            self._queue.append(event)
            return event["event_id"]

    @property
    def pending(self) -> int:
        return len(self._queue)

    def flush(self) -> FlushResult:
        """Send queued usage in batches of up to 1,000; keeps what could not be delivered."""
        result = FlushResult()
        self.regularise()
        while True:
            with self._lock:
                batch = self._queue[:MAX_BATCH]
            if not batch:
                break
            try:
                response = self._send("POST", "/api/v1/usage", json={"events": batch})
            except RegistryUnavailable:
                break
            answer = self._json_or_raise(response)
            result.accepted += answer["accepted"]
            result.duplicates += answer["duplicates"]
            # A rejection is final: the registry judged that event and will judge it the same way
            # again, so it leaves the queue with the others and is kept for a person instead.
            items = [dict(rejection, event=batch[rejection["index"]]) for rejection in answer["rejected"]]
            result.rejected.extend(items)
            with self._lock:
                if self._store is not None:
                    self._store.answered([e["event_id"] for e in batch], items)
                self.rejected.extend(items)
                del self._queue[:len(batch)]
        result.pending = self.pending
        return result

    def regularise(self) -> None:
        """Turn offline permits into registry decisions now that it answers again.

        The same request (same study_key) is asked online; a permit gives the decision id the
        queued usage is reported against. An online deny is kept in ``unreconciled`` for a person:
        the study was routed offline under terms the registry no longer confirms.
        """
        for offline_id, record in list(self.offline_records.items()):
            if record.outcome is None:
                continue  # usage not known yet
            try:
                response = self._send("POST", "/api/v1/decisions", json=record.request, retry=False)
            except RegistryUnavailable:
                return
            answer = self._json_or_raise(response)
            with self._lock:
                event = None
                if answer["decision"] == "permit":
                    # The offline id is the event id: regularising again after a crash queues
                    # (and the registry counts) the same event, once.
                    event = {"event_id": offline_id, "decision_id": answer["decision_id"],
                             "outcome": record.outcome, "occurred_at": record.occurred_at}
                if self._store is not None:
                    self._store.regularised(record.to_json(), event)
                del self.offline_records[offline_id]
                if event is not None:
                    self._queue.append(event)
                else:
                    self.unreconciled.append(record)

    # -- the signed bundle ------------------------------------------------------------------------------

    def refresh_bundle(self) -> dict[str, Any] | None:
        """Fetch the bundle (If-None-Match), verify it, and keep it. Returns the payload in use.

        A bundle that fails verification is refused and the one held stays; an unreachable
        registry leaves the held bundle as it is (its own ``exp`` bounds it).
        """
        headers = {"If-None-Match": f'"{self._bundle_etag}"'} if self._bundle_etag else {}
        try:
            response = self._send("GET", "/api/v1/bundle", headers=headers)
        except RegistryUnavailable:
            return self._bundle
        if response.status_code == 304 and self._bundle is not None:
            return self._bundle
        if response.status_code >= 400:
            self._json_or_raise(response)
        token = response.text.strip()
        payload = self._verify(token)
        with self._lock:
            self._bundle_jws, self._bundle = token, payload
            self._bundle_etag = (response.headers.get("ETag") or "").strip('"') or None
            self._keep_bundle()
        return payload

    def handle_webhook(self, verifier: Any, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """A pushed notice (a suspension, …): verified first (``registry.client.webhooks``), then
        the bundle is refreshed at once, so offline routing stops relying on what was suspended."""
        payload = verifier.verify(headers, body, now=self.now().timestamp())
        self.refresh_bundle()
        return payload

    def _keep_bundle(self) -> None:
        if self._store is not None:
            self._store.put(bundle_jws=self._bundle_jws, bundle_etag=self._bundle_etag)

    def load_bundle(self, token: str) -> dict[str, Any]:
        """Install a bundle obtained some other way (say, from disk); verified first."""
        payload = self._verify(token)
        with self._lock:
            self._bundle_jws, self._bundle, self._bundle_etag = token, payload, None
            self._keep_bundle()
        return payload

    @property
    def bundle(self) -> dict[str, Any] | None:
        return self._bundle

    def _keys(self, refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh:
            response = self._send("GET", "/.well-known/jwks.json", auth=False)
            jwks = self._json_or_raise(response)
            self._jwks = KeySet.import_key_set(jwks)
            if self._store is not None:  # to verify the kept bundle after a restart, offline
                self._store.put(jwks=json.dumps(jwks))
        return self._jwks

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = json.loads(_b64(token.split(".")[0]))
            kid = header.get("kid")
            if header.get("alg") not in BUNDLE_ALGORITHMS or not kid:
                raise BundleInvalid("the bundle must be signed with Ed25519 and name its kid")
            if self._jwks is None or kid not in {k.kid for k in self._jwks.keys}:
                try:
                    self._keys(refresh=True)  # a rotated key: fetch the JWKS once more
                except RegistryUnavailable:
                    pass
            key = next((k for k in (self._jwks.keys if self._jwks else []) if k.kid == kid), None)
            if key is None:
                raise BundleInvalid(f"no published key {kid}")
            obj = jws.deserialize_compact(token, key, algorithms=BUNDLE_ALGORITHMS)
            payload = json.loads(obj.payload)
        except BundleInvalid:
            raise
        except (JoseError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise BundleInvalid(f"the bundle does not verify: {type(exc).__name__}") from None
        if header.get("typ") != BUNDLE_TYP:
            raise BundleInvalid("not a bundle (typ)")
        if payload.get("iss", "").rstrip("/") != self.issuer:
            raise BundleInvalid("the bundle was issued by someone else")
        if payload.get("sub") != self.client_id:
            raise BundleInvalid("the bundle is for another gateway")
        if not isinstance(payload.get("exp"), int) or self.now().timestamp() >= payload["exp"]:
            raise BundleInvalid("the bundle has expired")
        return payload


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _load_private_key(value: Any) -> OKPKey:
    if isinstance(value, OKPKey):
        key = value
    elif isinstance(value, dict):
        key = OKPKey.import_key(value)
    else:
        key = OKPKey.import_key(value if isinstance(value, (bytes, str)) else bytes(value))
    if not key.is_private or key.as_dict().get("crv") != "Ed25519":
        raise ValueError("private_key must be an Ed25519 private key")
    return key
