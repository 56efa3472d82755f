"""Credentials that really end, and answers that do not tell known clients from unknown ones."""

from __future__ import annotations

import base64
import json
import warnings

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import func, select

from registry.auth.server import (NOT_AUTHENTICATED, GatewayClient, PrivateKeyJWT, auth_methods_used,
                                  build_server, load_client, metadata)
from registry.auth import secrets
from registry.db.audit import AuditEntry
from registry.db.oauth import AssertionJti
from registry.db.organisations import GatewayCredential
from registry.services import gateways
from tests.auth.helpers import (TOKEN_URL, assertion, basic, jwt_form, keyed_gateway, later,
                                new_key, secret_gateway)
from tests.factories import SYSTEM, make_world


@pytest.fixture
def world(session, clock):
    return make_world(session, clock)


def _token(client, **kw) -> str:  # noqa: ANN001
    response = client.post("/oauth/token", **kw)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def _works(client, token: str) -> bool:  # noqa: ANN001
    response = client.get("/api/v1/bundle", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 401)
    return response.status_code == 200


def _last(session, event_type: str) -> AuditEntry:  # noqa: ANN001
    return session.scalar(select(AuditEntry).where(AuditEntry.event_type == event_type)
                          .order_by(AuditEntry.id.desc()).limit(1))


def test_a_token_dies_with_its_rotated_secret(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, data={"grant_type": "client_credentials"},
                   headers=basic(gateway.client_id, secret))
    assert _works(client, token)
    gateways.rotate_credential(session, actor=SYSTEM, clock=clock, client_id=gateway.client_id)
    session.commit()
    assert not _works(client, token)


def test_a_token_dies_with_its_rotated_key(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    token = _token(client, data=jwt_form(assertion(gateway.client_id, key, clock)))
    assert _works(client, token)
    gateways.rotate_credential(session, actor=SYSTEM, clock=clock, client_id=gateway.client_id,
                               public_jwk=new_key("Ed25519").as_dict(private=False))
    session.commit()
    assert not _works(client, token)


def test_two_client_authentication_methods_in_one_request_are_refused(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    _, secret = secret_gateway(session, clock, world.hospital)
    # A valid assertion plus a (wrong) Basic header: RFC 6749 §2.3 allows one method only.
    response = client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, key, clock)),
                           headers=basic(gateway.client_id, secret))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request" and "one client authentication method" in body["error_description"]
    assert _last(session, "client-auth").outcome == "failure"
    # client_secret in the body beside Basic: refused the same way, the methods named, and the
    # access log says why.
    response = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                 "client_secret": secret},
                           headers=basic(gateway.client_id, secret))
    assert response.status_code == 400
    description = response.get_json()["error_description"]
    assert description == ("use one client authentication method per request (RFC 6749 section 2.3), "
                           "not client_secret_basic and client_secret_post")
    assert _last(session, "client-auth").detail["reason"] == description


class _TokenRequest:
    def __init__(self, form: dict, headers: dict) -> None:
        self.form, self.headers = form, headers


_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.mark.parametrize("form, headers, expected", [
    ({}, {}, []),
    ({}, basic("gw_a", "secret"), ["client_secret_basic"]),
    # A Basic header without a password is still an attempt at Basic.
    ({}, {"Authorization": "Basic " + base64.b64encode(b"gw_a").decode()}, ["client_secret_basic"]),
    ({"client_assertion": "x.y.z"}, {}, ["private_key_jwt"]),
    ({"client_assertion_type": _ASSERTION_TYPE}, {}, ["private_key_jwt"]),
    ({"client_secret": "s"}, {}, ["client_secret_post"]),
    ({"client_assertion": "x.y.z", "client_assertion_type": _ASSERTION_TYPE, "client_secret": "s"},
     basic("gw_a", "secret"), ["client_secret_basic", "private_key_jwt", "client_secret_post"]),
])
def test_every_client_authentication_method_present_is_counted(form, headers, expected):
    """What counts as an attempt at each method, valid or not: any part of it present."""
    assert auth_methods_used(_TokenRequest(form, headers)) == expected


def test_unknown_client_and_wrong_secret_get_the_same_answer(client, session, clock, world):
    gateway, _ = secret_gateway(session, clock, world.hospital)
    answers = [client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=basic(client_id, "aifi_cs_wrong"))
               for client_id in (gateway.client_id, "gw_nobody")]
    assert [(r.status_code, r.get_json()) for r in answers][0] == \
        [(r.status_code, r.get_json()) for r in answers][1]
    assert answers[0].status_code == 401 and answers[0].get_json()["error"] == "invalid_client"


def test_unknown_client_and_wrong_key_get_the_same_answer(client, session, clock, world):
    gateway, _key = keyed_gateway(session, clock, world.hospital)
    stranger = new_key("Ed25519")
    answers = [client.post("/oauth/token", data=jwt_form(assertion(client_id, stranger, clock)))
               for client_id in (gateway.client_id, "gw_nobody")]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].status_code == answers[1].status_code == 401


def test_a_refused_assertion_is_logged_under_the_client_it_claims(client, session, clock, world):
    """The access log names the client id an assertion claims (its subject, unverified), or the
    form's client_id when the assertion cannot be read."""
    stranger = new_key("Ed25519")
    client.post("/oauth/token", data=jwt_form(assertion("gw_nobody", stranger, clock)))
    assert _last(session, "client-auth").object_id == "gw_nobody"
    client.post("/oauth/token", data=jwt_form("not-a-jws", client_id="gw_form"))
    assert _last(session, "client-auth").object_id == "gw_form"
    client.post("/oauth/token", data=jwt_form("not-a-jws"))
    assert _last(session, "client-auth").object_id == ""


@pytest.mark.parametrize("claims, why", [
    ({"exp": 1e20}, "a date between 2000 and 9999"),
    ({"iat": -1e20}, "a date between 2000 and 9999"),
    ({"nbf": float("inf")}, "a date between 2000 and 9999"),
    ({"aud": "https://elsewhere.example/token"}, "aud must be"),
    ({"aud": [["nested"]]}, "aud must be"),
    ({"jti": None}, "jti"),
])
def test_assertion_refusals_say_why_for_known_and_unknown_clients_alike(client, session, clock,
                                                                        world, claims, why):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    bodies = []
    for client_id in (gateway.client_id, "gw_nobody"):
        value = assertion(client_id, key, clock, **claims)
        response = client.post("/oauth/token", data=jwt_form(value))
        assert response.status_code == 401
        bodies.append(response.get_json())
    assert why in bodies[0]["error_description"]
    assert bodies[0] == bodies[1]


def test_assertion_times_from_2000_through_9999_inclusive():
    """The documented range of a claim's time is closed at both ends: its first and last second
    are dates, the seconds just outside are refused."""
    from datetime import datetime, timezone

    from authlib.oauth2.rfc6749 import InvalidClientError

    from registry.auth.server import _EPOCH_MAX, _EPOCH_MIN, _epoch

    assert _epoch(_EPOCH_MIN, "nbf") == datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert _epoch(_EPOCH_MAX, "exp") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    for outside in (_EPOCH_MIN - 1, _EPOCH_MAX + 1):
        with pytest.raises(InvalidClientError):
            _epoch(outside, "iat")


def test_a_replayed_assertion_is_refused_with_the_reason_until_it_expires(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock, exp=later(clock, minutes=55))
    _token(client, data=jwt_form(value))
    clock.advance(minutes=50)  # the jti is kept for the assertion's whole life
    response = client.post("/oauth/token", data=jwt_form(value))
    assert response.status_code == 401
    assert "used before" in response.get_json()["error_description"]


def test_token_issued_and_failed_client_authentication_are_logged(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    _token(client, data={"grant_type": "client_credentials"}, headers=basic(gateway.client_id, secret))
    issued = _last(session, "token")
    assert (issued.actor, issued.outcome, issued.object_id) == (f"gateway:{gateway.client_id}",
                                                                "success", gateway.client_id)
    assert issued.on_behalf_of_id == world.hospital.id
    assert "aifi_at_" not in json.dumps(issued.detail)  # never the token itself
    client.post("/oauth/token", data={"grant_type": "client_credentials"},
                headers=basic(gateway.client_id, "aifi_cs_wrong"))
    failed = _last(session, "client-auth")
    assert (failed.actor, failed.outcome, failed.object_id) == ("anonymous:-", "failure",
                                                                gateway.client_id)
    assert "aifi_cs_wrong" not in json.dumps(failed.detail)


def test_only_key_credentials_with_a_key_are_offered_for_assertions():
    """The keys an assertion is checked against: those of private_key_jwt credentials that carry
    one. A secret credential never contributes a key, and a key credential without its key is
    passed over, not an error."""
    key = new_key("Ed25519").as_dict(private=False)
    credentials = [GatewayCredential(method="private_key_jwt", public_jwk=None),
                   GatewayCredential(method="client_secret_basic", public_jwk=json.dumps({"kty": "oct"})),
                   GatewayCredential(method="private_key_jwt", public_jwk=json.dumps(key))]
    client = GatewayClient(gateway=None, credentials=credentials)
    assert client.public_keys() == [key]


def test_used_assertions_are_forgotten_once_they_can_no_longer_be_replayed(client, session, clock, world):
    """A jti is kept until its assertion has expired, then dropped when that client next
    authenticates; other clients' jtis are theirs to drop."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    other, other_key = keyed_gateway(session, clock, world.hospital)

    def jtis(client_id):
        return session.scalar(select(func.count()).select_from(AssertionJti)
                              .where(AssertionJti.client_id == client_id))

    for gw, k in ((gateway, key), (other, other_key)):
        _token(client, data=jwt_form(assertion(gw.client_id, k, clock)))
    assert (jtis(gateway.client_id), jtis(other.client_id)) == (1, 1)
    clock.advance(minutes=3)  # both expired (60 s), and past the leeway on both sides
    _token(client, data=jwt_form(assertion(gateway.client_id, key, clock)))
    session.expire_all()
    assert (jtis(gateway.client_id), jtis(other.client_id)) == (1, 1)  # the old one replaced


def test_the_issuer_with_or_without_a_trailing_slash_is_an_audience(session, clock):
    server = build_server(session, clock=clock, issuer="https://registry.example/", token_ttl=600,
                          request_id=None, network_access_point="")
    methods = server._client_auth._methods  # Authlib's registry of client-authentication methods
    assert methods["private_key_jwt"].audiences == ["https://registry.example/oauth/token",
                                                    "https://registry.example"]


class _NoDatabase:
    def execute(self, *args):  # noqa: ANN002
        raise AssertionError("a client id that cannot be one reached the database")


@pytest.mark.parametrize("client_id", ["", "g" * 65, "gw\x00x", "gw\nx", 42, None])
def test_a_client_id_that_cannot_be_one_never_reaches_the_database(client_id):
    """(PostgreSQL refuses a NUL in text: looked up, it would be a false outage.)"""
    assert load_client(_NoDatabase(), client_id) is None


def test_a_client_id_of_sixty_four_characters_is_looked_up(session, clock, world):
    gateway, _ = secret_gateway(session, clock, world.hospital)
    gateway.client_id = "g" * 64
    session.flush()
    assert load_client(session, "g" * 64).gateway.id == gateway.id


def test_an_assertion_is_checked_against_each_key_that_fits_its_algorithm(session, clock, world):
    """Keys on other curves, and keys that do not verify the signature, are passed over: not an
    error, and not the end of the search."""
    key = new_key("Ed25519")
    # Another curve, another algorithm, another Ed25519 key whose signature does not verify,
    # and then the key that signed.
    keys = [ECKey.generate_key("P-384").as_dict(private=False), new_key("ES256").as_dict(private=False),
            new_key("Ed25519").as_dict(private=False), key.as_dict(private=False)]
    client = GatewayClient(gateway=None, credentials=[
        GatewayCredential(method="private_key_jwt", public_jwk=json.dumps(k)) for k in keys])
    checker = PrivateKeyJWT(session, clock, [TOKEN_URL])
    value = assertion("gw_keys", key, clock)
    assert checker._verify_signature(value, "Ed25519", client)["sub"] == "gw_keys"


def test_a_gateway_s_credential_authenticates_no_other_gateway(client, session, clock, world):
    mine, my_secret = secret_gateway(session, clock, world.hospital)
    theirs, _ = secret_gateway(session, clock, world.hospital)
    assert {c.gateway_id for c in load_client(session, theirs.client_id).credentials} == {theirs.id}
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=basic(theirs.client_id, my_secret))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_the_metadata_in_full_names_the_issuer_without_a_trailing_slash():
    base = "https://registry.example"
    assert metadata(base + "/") == {
        "issuer": base, "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke", "introspection_endpoint": f"{base}/oauth/introspect",
        "jwks_uri": f"{base}/.well-known/jwks.json", "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["Ed25519", "EdDSA", "ES256"],
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "scopes_supported": ["routing:decide", "usage:report", "bundle:read", "feedback:report"]}


def _signed(header: dict, payload: bytes) -> str:
    key = OctKey.generate_key(256) if header["alg"] == "HS256" else new_key("Ed25519")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jws.serialize_compact(header, payload, key, algorithms=[header["alg"]])


@pytest.mark.parametrize("alg, payload, form, description", [
    # Signed inside the test: a key made while collecting would give every xdist worker another id.
    ("Ed25519", b"[1, 2]", {}, "the client assertion's payload is not a JSON object"),
    ("HS256", b'{"sub": "gw_a"}', {}, "assertion algorithm must be one of Ed25519, EdDSA, ES256"),
    ("Ed25519", b'{"sub": 42}', {}, "claim 'sub' must be the client_id"),
    ("Ed25519", b'{"sub": ""}', {}, "claim 'sub' must be the client_id"),
    ("Ed25519", b'{"sub": "gw_a"}', {"client_id": "gw_b"}, "client_id does not match the assertion's subject"),
])
def test_what_is_wrong_with_an_assertion_before_its_client_is_looked_up_is_said(client, alg, payload, form,
                                                                               description):
    value = _signed({"alg": alg}, payload)
    response = client.post("/oauth/token", data=jwt_form(value, **form))
    assert response.status_code == 401
    assert response.get_json()["error_description"] == description


@pytest.mark.parametrize("value, description", [
    ("", NOT_AUTHENTICATED),  # an empty assertion is no attempt at private_key_jwt: no method
    ("x" * 8192, "the client assertion is not a compact JWS"),
    ("x" * 8193, "client assertion too large"),
])
def test_an_assertion_s_size_and_form_are_checked_first(client, value, description):
    response = client.post("/oauth/token", data=jwt_form(value))
    assert response.status_code == 401
    assert response.get_json()["error_description"] == description


def test_an_unknown_client_s_secret_is_hashed_and_compared_like_a_known_one_s(client, session, clock, world,
                                                                              monkeypatch):
    """The same work for a client that does not exist as for a wrong secret: the presented
    secret is hashed and compared either way (shown by what runs, not by timing)."""
    gateway, _ = secret_gateway(session, clock, world.hospital)
    hashed = []
    real = secrets.hash_secret
    monkeypatch.setattr(secrets, "hash_secret", lambda value: hashed.append(value) or real(value))
    for client_id in (gateway.client_id, "gw_nobody"):
        hashed.clear()
        response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers=basic(client_id, "aifi_cs_wrong"))
        assert response.status_code == 401
        assert hashed.count("aifi_cs_wrong") == 1, client_id


def test_a_failed_authentication_says_and_logs_the_one_answer(client, session, clock, world):
    """No credential at all, or a wrong one: the one NOT_AUTHENTICATED answer (Authlib's own
    wording for the first would differ), and the access log's reason is that answer."""
    gateway, _ = secret_gateway(session, clock, world.hospital)
    for kw in ({}, {"headers": basic(gateway.client_id, "aifi_cs_wrong")}):
        response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, **kw)
        assert response.status_code == 401
        assert response.get_json()["error_description"] == NOT_AUTHENTICATED
        assert _last(session, "client-auth").detail["reason"] == NOT_AUTHENTICATED
