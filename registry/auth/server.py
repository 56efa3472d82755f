"""The OAuth2 authorisation server for gateways (Authlib): client-credentials grant only.

Authlib runs the protocol (grant dispatch, client-auth method dispatch, RFC 6749 error bodies,
RFC 7009 revocation). What is ours:

* :class:`GatewayClient`: Authlib's client interface over a gateway and its live credentials.
* :class:`PrivateKeyJWT`: RFC 7523 client authentication, verified with joserfc ourselves
  rather than with Authlib's ``JWTBearerClientAssertion``, because (1) that class checks
  ``exp``/``nbf`` against the wall clock, not the injected clock every service uses; (2) it
  decodes with joserfc's "recommended" algorithms, which exclude both ``Ed25519`` and ``EdDSA``;
  (3) we must refuse long-lived assertions and record ``jti`` in the database, in the request's
  transaction.
* The token generator: tokens come from :func:`registry.auth.tokens.issue_gateway_token`
  (stored as a SHA-256 hash, prefixed ``aifi_at_``), never from Authlib's random generator.

A server is built per request (:func:`build_server`), bound to that request's session and the
app's clock: it holds no state of its own, and nothing here reads a Flask global.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from joserfc import jws, jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import JWKRegistry
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit import access
from registry.auth.secrets import hash_secret, secret_matches
from registry.auth.tokens import GATEWAY_SCOPES, issue_gateway_token, revoke_token
from registry.clock import Clock
from registry.db.oauth import AccessToken, AssertionJti
from registry.db.organisations import Gateway, GatewayCredential, Organisation

log = logging.getLogger("registry.oauth")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_BASIC = "client_secret_basic"
AUTH_METHODS = [PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC]
# RFC 9864 names Ed25519 outright; gateways in the field still send the deprecated EdDSA.
ALGORITHMS_BY_CURVE = {"Ed25519": ["Ed25519", "EdDSA"], "P-256": ["ES256"]}
SIGNING_ALGORITHMS = ["Ed25519", "EdDSA", "ES256"]
# An assertion is a one-shot proof: refuse one that claims to live longer than this, so that a
# stolen one is useless soon and the jti table stays small. One hour is what stock clients sign
# by default (Authlib's PrivateKeyJWT, Google's and Okta's conventions); each jti is kept until
# its assertion expires, so replay stays impossible however long it lives.
MAX_ASSERTION_LIFETIME = timedelta(hours=1)
# Clock skew allowed between a gateway and the registry.
LEEWAY = timedelta(seconds=30)
MAX_ASSERTION_BYTES = 8 * 1024


def token_endpoint(issuer: str) -> str:
    return issuer.rstrip("/") + "/oauth/token"


def _invalid_client(description: str) -> InvalidClientError:
    # 401 always (RFC 6749 §5.2 allows it and requires it for Basic); one code for every failure
    # so that a caller cannot probe which client ids exist.
    return InvalidClientError(description=description, status_code=401)


@dataclass
class GatewayClient:
    """Authlib's ``ClientMixin`` over a gateway and its unrevoked credentials."""

    gateway: Gateway  # active, of an active hospital (load_client checks both)
    # Never in a repr: a log line or traceback must not carry even a secret's hash.
    credentials: list[GatewayCredential] = field(default_factory=list, repr=False)

    @property
    def client_id(self) -> str:
        return self.gateway.client_id

    def get_client_id(self) -> str:
        return self.gateway.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # no browser flows

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        """Every gateway may hold every gateway scope; no scope asked means all of them."""
        if not scope:
            return " ".join(GATEWAY_SCOPES)
        return " ".join(s for s in GATEWAY_SCOPES if s in scope.split())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return any(c.method == method for c in self.credentials)

    def check_client_secret(self, client_secret: str) -> bool:
        # Constant-time comparison against each live secret's hash.
        return any(secret_matches(client_secret, c.secret_hash) for c in self.credentials
                   if c.method == CLIENT_SECRET_BASIC)

    def public_keys(self) -> list[dict]:
        return [json.loads(c.public_jwk) for c in self.credentials
                if c.method == PRIVATE_KEY_JWT and c.public_jwk]


def load_client(session: Session, client_id: str) -> GatewayClient | None:
    """The gateway as an OAuth client, or None unless it and its hospital are both active."""
    # (isprintable: a NUL would otherwise reach PostgreSQL, which refuses it in text)
    if (not isinstance(client_id, str) or not client_id or len(client_id) > 64
            or not client_id.isprintable()):
        return None
    found = session.execute(
        select(Gateway, Organisation).join(Organisation, Organisation.id == Gateway.hospital_id)
        .where(Gateway.client_id == client_id)).first()
    if found is None:
        return None
    gateway, hospital = found
    # A suspended or revoked gateway, or one of a suspended or offboarded hospital, gets nothing.
    if gateway.status != "active" or hospital.status != "active":
        return None
    credentials = list(session.scalars(select(GatewayCredential).where(
        GatewayCredential.gateway_id == gateway.id, GatewayCredential.revoked_at.is_(None))))
    return GatewayClient(gateway, credentials)


# Epoch seconds an assertion may name: 2000-01-01 up to 9999-12-31 (beyond that, Python's
# datetime overflows; no honest clock is there).
_EPOCH_MIN, _EPOCH_MAX = 946_684_800, 253_402_300_799
# One answer for "no such client" and "not this client's key": the caller must not learn which
# client ids exist (RFC 6749 §5.2 invalid_client covers both).
NOT_AUTHENTICATED = ("client authentication failed: unknown, suspended or revoked client, or a "
                     "credential that does not match a registered one")


def _epoch(value: object, name: str) -> datetime:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not _EPOCH_MIN <= value <= _EPOCH_MAX):
        raise _invalid_client(f"claim {name!r} must be a number of seconds since the epoch "
                              "(a date between 2000 and 9999)")
    return datetime.fromtimestamp(value, timezone.utc)


def claimed_client_id(request) -> str:  # noqa: ANN001
    """The client id a token request claims (Basic user name, assertion subject or form field),
    unverified: for the access log of a failed authentication only."""
    basic_id, _ = extract_basic_authorization(request.headers)
    if basic_id:
        return basic_id
    assertion = request.form.get("client_assertion")
    if assertion:
        try:
            sub = json.loads(jws.extract_compact(assertion.encode("ascii")).payload).get("sub")
        except (JoseError, ValueError, UnicodeError, AttributeError):
            sub = None
        if isinstance(sub, str):
            return sub
    return request.form.get("client_id") or ""


def auth_methods_used(request) -> list[str]:  # noqa: ANN001
    """The client-authentication methods present in a request, whether valid or not."""
    used = []
    if extract_basic_authorization(request.headers)[0] is not None:
        used.append(CLIENT_SECRET_BASIC)
    if request.form.get("client_assertion") or request.form.get("client_assertion_type"):
        used.append(PRIVATE_KEY_JWT)
    if request.form.get("client_secret"):
        used.append("client_secret_post")
    return used


class PrivateKeyJWT:
    """RFC 7523 §2.2 client authentication (``private_key_jwt``), checked against the injected clock.

    The header and claims are checked first, before the client is looked up: what is wrong with
    them (algorithm, audience, lifetime, replay) is said in the error, because it tells nothing
    about whether the client exists. An unknown client and a signature that does not verify get
    the one answer :data:`NOT_AUTHENTICATED`."""

    def __init__(self, session: Session, clock: Clock, audiences: list[str]):
        self.session, self.clock, self.audiences = session, clock, audiences

    def __call__(self, query_client, request) -> GatewayClient | None:  # noqa: ANN001
        form = request.form
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None  # not this method; Authlib tries the next one
        if len(assertion) > MAX_ASSERTION_BYTES:
            raise _invalid_client("client assertion too large")
        try:
            # Read the unverified header and claims only to check them and find the client.
            unverified = jws.extract_compact(assertion.encode("ascii"))
            header = unverified.headers()
            claims = json.loads(unverified.payload)
        except (JoseError, ValueError, UnicodeError):
            raise _invalid_client("the client assertion is not a compact JWS") from None
        if not isinstance(claims, dict):
            raise _invalid_client("the client assertion's payload is not a JSON object")
        alg = header.get("alg")
        if alg not in SIGNING_ALGORITHMS:
            raise _invalid_client(f"assertion algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or not client_id:
            raise _invalid_client("claim 'sub' must be the client_id")
        form_client_id = form.get("client_id")
        if form_client_id and form_client_id != client_id:
            raise _invalid_client("client_id does not match the assertion's subject")
        exp = self._check_claims(claims, client_id)
        client = query_client(client_id)
        if client is None:
            raise _invalid_client(NOT_AUTHENTICATED)
        verified = self._verify_signature(assertion, alg, client)
        if verified != claims:  # the same payload, now known to be signed (defence in depth)
            raise _invalid_client(NOT_AUTHENTICATED)
        self._consume_jti(client_id, claims["jti"], exp, self.clock.now())
        request.client = client
        return client

    def _verify_signature(self, assertion: str, alg: str, client: GatewayClient) -> dict:
        for jwk in client.public_keys():
            if alg not in ALGORITHMS_BY_CURVE.get(jwk.get("crv"), []):
                continue
            key = JWKRegistry.import_key(jwk)
            try:
                with warnings.catch_warnings():
                    # joserfc warns that "EdDSA" is deprecated (RFC 9864). We accept it knowingly
                    # for deployed gateways, and only for their registered Ed25519 key.
                    warnings.simplefilter("ignore", SecurityWarning)
                    token = jwt.decode(assertion, key, algorithms=[alg])
            except (JoseError, ValueError):
                continue
            return dict(token.claims)
        raise _invalid_client(NOT_AUTHENTICATED)

    def _check_claims(self, claims: dict, client_id: str) -> datetime:
        """Check the claims (RFC 7523 §3) and return the assertion's expiry."""
        now = self.clock.now()
        if claims.get("iss") != client_id:
            raise _invalid_client("iss and sub must both be the client_id")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in self.audiences for a in auds):
            raise _invalid_client(f"aud must be {self.audiences[0]}")
        if "exp" not in claims:
            raise _invalid_client("claim 'exp' is required")
        exp = _epoch(claims["exp"], "exp")
        if exp + LEEWAY <= now:
            raise _invalid_client("the client assertion has expired")
        if exp > now + MAX_ASSERTION_LIFETIME + LEEWAY:
            raise _invalid_client("the client assertion lives too long; keep exp within "
                                  f"{int(MAX_ASSERTION_LIFETIME.total_seconds())} seconds of now")
        if "nbf" in claims and _epoch(claims["nbf"], "nbf") > now + LEEWAY:
            raise _invalid_client("the client assertion is not yet valid")
        if "iat" in claims and _epoch(claims["iat"], "iat") > now + LEEWAY:
            raise _invalid_client("the client assertion was issued in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= 200 or not jti.isprintable():
            raise _invalid_client("claim 'jti' is required (a unique string)")
        return exp

    def _consume_jti(self, client_id: str, jti: str, exp: datetime, now: datetime) -> None:
        """RFC 7523 §3: each assertion is used once. The unique (client_id, jti) constraint makes
        this hold across registry instances, not only within one process. A jti is kept until
        its assertion has expired (up to MAX_ASSERTION_LIFETIME), so it cannot come back."""
        # Forget assertions that can no longer be replayed anyway (they have expired).
        self.session.execute(delete(AssertionJti).where(AssertionJti.client_id == client_id,
                                                        AssertionJti.expires_at < now - LEEWAY))
        try:
            with self.session.begin_nested():
                self.session.add(AssertionJti(client_id=client_id, jti=jti, expires_at=exp + LEEWAY))
                self.session.flush()
        except IntegrityError:
            raise _invalid_client("this client assertion (jti) has been used before") from None


def secret_basic(query_client, request) -> GatewayClient | None:  # noqa: ANN001
    """``client_secret_basic`` without Authlib's "client does not exist" answer: an unknown
    client costs the same constant-time comparison and fails with the same error as a wrong
    secret."""
    client_id, client_secret = extract_basic_authorization(request.headers)
    if not client_id or not client_secret:
        return None
    client = query_client(client_id)
    if client is None:
        secret_matches(client_secret, _UNKNOWN_CLIENT_HASH)
        return None
    return client if client.check_client_secret(client_secret) else None


_UNKNOWN_CLIENT_HASH = hash_secret("aifi_cs_no-such-client")


class _ClientAuthentication(ClientAuthentication):
    """Authlib's method dispatch, plus: one method per request (RFC 6749 §2.3), one error text
    for every failed authentication that could reveal a client's existence, and an access-log
    entry (NEN 7513) for each failure."""

    def __init__(self, query_client, on_failure) -> None:  # noqa: ANN001
        super().__init__(query_client)
        self.on_failure = on_failure

    def authenticate(self, request, methods, endpoint):  # noqa: ANN001, ANN201
        used = auth_methods_used(request)
        if len(used) > 1:
            description = ("use one client authentication method per request (RFC 6749 section 2.3), "
                           f"not {' and '.join(used)}")
            self.on_failure(request, description)
            raise InvalidRequestError(description=description)
        try:
            return super().authenticate(request, methods, endpoint)
        except InvalidClientError as exc:
            if exc.description.startswith("The client cannot authenticate"):
                exc.description = NOT_AUTHENTICATED
            exc.status_code = 401
            self.on_failure(request, exc.description)
            raise


class GatewayCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class _Revocation(RevocationEndpoint):
    """RFC 7009: a gateway revokes its own access tokens. Unknown or foreign tokens: 200, nothing done."""

    CLIENT_AUTH_METHODS = AUTH_METHODS
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def __init__(self, server, session: Session, clock: Clock):  # noqa: ANN001
        super().__init__(server)
        self.session, self.clock = session, clock

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        return self.session.scalar(select(AccessToken).where(
            AccessToken.token_hash == hash_secret(token_string)))

    def check_params(self, request, client) -> None:  # noqa: ANN001
        # RFC 7009 §2.1: the hint is only a hint ("MAY ignore"), and a token not found under it
        # must be searched for under every type. Authlib answers an unknown hint with
        # unsupported_token_type as a 401, which a client library reads as failed client
        # authentication; with one kind of token there is nothing to narrow, so it is ignored.
        if "token" not in request.form:
            raise InvalidRequestError()

    def authenticate_token(self, request, client):  # noqa: ANN001, ANN201
        self.check_params(request, client)
        row = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 §2.2: an invalid token, or another client's, is not an error for the caller.
        return row if row is not None and row.client_id == client.client_id else None

    def revoke_token(self, token: AccessToken, request) -> None:  # noqa: ANN001
        revoke_token(self.session, clock=self.clock, token=request.form["token"])


def build_server(session: Session, *, clock: Clock, issuer: str, token_ttl: int,
                 request_id: str | None, network_access_point: str) -> AuthorizationServer:
    """An Authlib server bound to one request's session (tokens, jti rows and access-log entries
    are flushed into it; the edge commits). ``request_id`` and ``network_access_point`` are the
    request's, for the access log."""

    def failed(request, description: str) -> None:  # noqa: ANN001
        anonymous = access.anonymous(request_id=request_id, network_access_point=network_access_point)
        access.log_access(session, actor=anonymous, at=clock.now(), event_type=access.CLIENT_AUTH,
                          outcome="failure", object_type="client",
                          object_id=claimed_client_id(request), detail={"reason": description})
        session.flush()

    def query_client(client_id: str) -> GatewayClient | None:
        return load_client(session, client_id)

    def save_token(token: dict, request) -> None:  # noqa: ANN001
        pass  # already stored (as a hash) by the generator below

    def generate_token(grant_type: str, client: GatewayClient, user=None, scope: str | None = None,  # noqa: ANN001
                       expires_in: int | None = None, include_refresh_token: bool = False) -> dict:
        granted = client.get_allowed_scope(scope)
        issued = issue_gateway_token(session, clock=clock, gateway=client.gateway, scope=granted,
                                     ttl=token_ttl)
        log.info("access token issued to %s (scope %s)", client.client_id, granted)  # never the value
        gateway_actor = Actor.for_gateway(client.gateway, frozenset(), request_id=request_id,
                                          network_access_point=network_access_point)
        access.log_access(session, actor=gateway_actor, at=clock.now(), event_type=access.TOKEN_ISSUED,
                          outcome="success", object_type="gateway", object_id=client.client_id,
                          detail={"scope": granted, "expires_at": issued.row.expires_at.isoformat()})
        return {"access_token": issued.access_token, "token_type": "Bearer",
                "expires_in": issued.expires_in, "scope": issued.scope}

    server = AuthorizationServer(query_client=query_client, save_token=save_token)
    server._client_auth = _ClientAuthentication(query_client, failed)
    server.register_client_auth_method(CLIENT_SECRET_BASIC, secret_basic)
    server.scopes_supported = list(GATEWAY_SCOPES)
    server.register_token_generator("default", generate_token)
    server.register_client_auth_method(
        PRIVATE_KEY_JWT, PrivateKeyJWT(session, clock, [token_endpoint(issuer), issuer.rstrip("/")]))
    server.register_grant(GatewayCredentialsGrant)
    server.register_endpoint(_Revocation(server, session, clock))
    return server


def metadata(issuer: str) -> dict:
    """RFC 8414 authorisation-server metadata."""
    base = issuer.rstrip("/")
    return {
        "issuer": base,
        "token_endpoint": token_endpoint(base),
        "revocation_endpoint": base + "/oauth/revoke",
        "introspection_endpoint": base + "/oauth/introspect",
        "jwks_uri": base + "/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "scopes_supported": list(GATEWAY_SCOPES),
    }
