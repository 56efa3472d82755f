"""A small OpenID Connect provider on a loopback port, started by the tests themselves.

It serves discovery, JWKS, an authorize endpoint that approves at once as a configurable user, and
a token endpoint that checks the client secret, the code, the redirect URI and PKCE before it signs
an id_token with joserfc. Knobs let a test make it misbehave (another nonce, audience, issuer, key).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server

from registry.db.users import User
from registry.services import identity_providers, organisations
from tests.conftest import DEMO_NOW
from tests.factories import SYSTEM

CLIENT_ID = "aifi-registry"
CLIENT_SECRET = "provider-issued-secret-0123456789"


@dataclass
class FakeProvider:
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "good"}))
    # Same kid, different key: a token signed with it must fail the signature check.
    rogue_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "good"}))
    user: dict[str, Any] = field(default_factory=dict)
    claim_overrides: dict[str, Any] = field(default_factory=dict)
    sign_with_rogue_key: bool = False
    now: int = int(DEMO_NOW.timestamp())
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.user = {"sub": "alice-0001", "email": "alice@ziekenhuis.example", "name": "Alice Arts",
                     "roles": ["radiologie-juridisch"]}
        self.claim_overrides = {}
        self.sign_with_rogue_key = False
        self.codes.clear()
        self.token_requests.clear()


def _provider_app(idp: FakeProvider) -> Flask:
    app = Flask("fake-idp")

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify({"issuer": idp.issuer, "authorization_endpoint": f"{idp.issuer}/authorize",
                        "token_endpoint": f"{idp.issuer}/token", "jwks_uri": f"{idp.issuer}/jwks",
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic"]})

    @app.get("/jwks")
    def jwks():
        return jsonify(KeySet([idp.key]).as_dict(private=False))

    @app.get("/authorize")
    def authorize():
        args = request.args
        if (args.get("response_type") != "code" or args.get("client_id") != CLIENT_ID
                or args.get("code_challenge_method") != "S256" or not args.get("code_challenge")
                or "openid" not in args.get("scope", "").split()):
            return "bad authorization request", 400
        code = secrets.token_urlsafe(16)
        idp.codes[code] = {"nonce": args.get("nonce"), "challenge": args["code_challenge"],
                           "redirect_uri": args["redirect_uri"], "user": dict(idp.user)}
        # Auto-approve: the configured user has "logged in" at the provider.
        query = urlencode({"code": code, "state": args.get("state", ""), "iss": idp.issuer})
        return redirect(f"{args['redirect_uri']}?{query}")

    @app.post("/token")
    def token():
        auth = request.authorization
        form = request.form
        idp.token_requests.append(dict(form))
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return jsonify({"error": "invalid_client"}), 401
        grant = idp.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return jsonify({"error": "invalid_grant"}), 400
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return jsonify({"error": "invalid_grant"}), 400
        claims = {"iss": idp.issuer, "aud": CLIENT_ID, "iat": idp.now, "exp": idp.now + 300,
                  "nonce": grant["nonce"], **grant["user"], **idp.claim_overrides}
        claims = {k: v for k, v in claims.items() if v is not None}
        key = idp.rogue_key if idp.sign_with_rogue_key else idp.key
        id_token = jwt.encode({"alg": "RS256", "kid": "good"}, claims, key)
        return jsonify({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                        "expires_in": 300, "id_token": id_token})

    return app


@pytest.fixture(scope="session")
def _running_provider():
    idp = FakeProvider()
    server = make_server("127.0.0.1", 0, _provider_app(idp), threaded=True)
    idp.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield idp
    server.shutdown()
    thread.join(5)


@pytest.fixture
def idp(_running_provider) -> FakeProvider:
    _running_provider.reset()
    return _running_provider


@dataclass
class SsoWorld:
    hospital: Any
    other_hospital: Any
    provider: Any


@pytest.fixture
def sso(session, clock, settings, idp) -> SsoWorld:
    """A hospital with a registered provider (our fake), and a second hospital without one."""
    kw = {"actor": SYSTEM, "clock": clock}
    suffix = secrets.token_hex(3)
    hospital = organisations.create_organisation(session, **kw, kind="hospital",
                                                 name=f"SSO Ziekenhuis {suffix}")
    other = organisations.create_organisation(session, **kw, kind="hospital",
                                              name=f"Ander Ziekenhuis {suffix}")
    provider = identity_providers.register_identity_provider(
        session, **kw, secret_key=settings.secret_key, organisation_id=hospital.id,
        issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, roles_claim="roles",
        role_mapping={"radiologie-juridisch": ["legal"], "radiologie-inkoop": ["procurement", "viewer"]})
    session.commit()
    return SsoWorld(hospital=hospital, other_hospital=other, provider=provider)


def sso_login(client, provider_id: int, *, tamper=None, rewrite=None,  # noqa: ANN001, ANN201
              start_query: str = ""):
    """Drive the whole sign-in: start at the registry, follow to the provider, bring the code back.

    ``tamper`` may change the browser session between start and callback (as an attacker could),
    ``rewrite`` the query string the provider sends back."""
    start = client.get(f"/sso/{provider_id}/login{start_query}")
    assert start.status_code == 302, start.get_data(as_text=True)
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    if tamper is not None:
        with client.session_transaction() as s:
            tamper(s)
    back = urlsplit(answer.headers["Location"])
    query = rewrite(back.query) if rewrite else back.query
    return client.get(f"{back.path}?{query}")


def signed_in_user(client, session) -> User | None:  # noqa: ANN001
    """The user of the browser's server-side session (registry.services.sessions), if any."""
    from registry.services.sessions import SessionPolicy, resume_session
    from registry.web.views import SESSION_KEY

    with client.session_transaction() as s:
        value = s.get(SESSION_KEY)
    reg = client.application.extensions["registry"]
    return resume_session(session, clock=reg.clock, value=value, policy=SessionPolicy.from_settings(reg.settings))


def user_by_email(session, email: str) -> User | None:  # noqa: ANN001
    return session.scalar(select(User).where(User.email == email))
