"""The token endpoint with a stock OAuth client nobody here wrote: Authlib's requests client
(``OAuth2Session``), configured as its documentation shows, against the registry served on a
loopback port. The assertions are Authlib's own (one hour of lifetime by default)."""

from __future__ import annotations

import threading

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from werkzeug.serving import make_server

from registry.clock import SystemClock
from tests.auth.helpers import keyed_gateway, secret_gateway
from tests.factories import make_world


@pytest.fixture
def served(engine, sessions, settings):
    """The registry on 127.0.0.1 (a free port), sharing the test's transaction; its issuer is
    its own URL, so stock clients use the right audience. The wall clock: Authlib signs with it."""
    from registry.app import create_app

    server = make_server("127.0.0.1", 0, None, threaded=False)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(settings.model_copy(update={"issuer": url}), clock=SystemClock(),
                     engine=engine, sessions=sessions)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def world(session, clock):
    w = make_world(session, clock)
    session.commit()
    return w


def _bundle_ok(url: str, token: dict) -> bool:
    import requests

    response = requests.get(f"{url}/api/v1/bundle", timeout=10,
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    return response.status_code == 200


@pytest.mark.parametrize("key_alg, jws_alg", [("Ed25519", "Ed25519"), ("ES256", "ES256")])
def test_authlib_private_key_jwt_with_its_default_lifetime(served, session, clock, world, key_alg, jws_alg):
    gateway, key = keyed_gateway(session, clock, world.hospital, key_alg)
    token_url = f"{served}/oauth/token"
    # As Authlib's documentation shows; only the algorithm is named (its default is RS256).
    client = OAuth2Session(gateway.client_id, key, token_endpoint_auth_method="private_key_jwt",
                           scope="routing:decide bundle:read")
    client.register_client_auth_method(PrivateKeyJWT(token_url, alg=jws_alg))
    with client:
        token = client.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["access_token"].startswith("aifi_at_")
    assert token["scope"] == "routing:decide bundle:read"
    assert _bundle_ok(served, token)


def test_authlib_client_secret_basic(served, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token_url = f"{served}/oauth/token"
    with OAuth2Session(gateway.client_id, secret, token_endpoint_auth_method="client_secret_basic") as client:
        token = client.fetch_token(token_url, grant_type="client_credentials")
    assert token["expires_in"] == 600
    assert _bundle_ok(served, token)


def test_authlib_sees_the_reason_for_a_refused_assertion(served, session, clock, world):
    from authlib.integrations.base_client import OAuthError

    gateway, key = keyed_gateway(session, clock, world.hospital)
    token_url = f"{served}/oauth/token"
    client = OAuth2Session(gateway.client_id, key, token_endpoint_auth_method="private_key_jwt")
    # A lifetime of two hours: refused, and the error says why.
    client.register_client_auth_method(PrivateKeyJWT(token_url, alg="Ed25519",
                                                     claims={"exp": _in_seconds(7200)}))
    with client, pytest.raises(OAuthError) as refused:
        client.fetch_token(token_url, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert "lives too long" in refused.value.description


def _in_seconds(seconds: int) -> int:
    import time

    return int(time.time()) + seconds
