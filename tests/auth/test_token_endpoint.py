"""POST /oauth/token: Authlib's client-credentials grant with private_key_jwt (RFC 7523) and
client_secret_basic, and RFC 6749 errors for everything else."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from registry.audit.access import TOKEN_ISSUED
from registry.db.audit import AuditEntry
from registry.services import gateways, organisations
from tests.auth.helpers import (TOKEN_URL, assertion, basic, jwt_form, keyed_gateway, later,
                                new_key, secret_gateway)
from tests.factories import SYSTEM, make_world


@pytest.fixture
def world(session, clock):
    return make_world(session, clock)


def _api_ok(client, token: str) -> bool:
    """Does the token authenticate on the API? (An unknown decision is 404 for a valid token.)"""
    response = client.get("/api/v1/decisions/00000000-0000-0000-0000-000000000000",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (401, 404)
    return response.status_code == 404


def _error(response, status: int, error: str) -> None:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"] == error


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA", "ES256"])
def test_private_key_jwt_success(client, session, clock, world, alg):
    gateway, key = keyed_gateway(session, clock, world.hospital, "ES256" if alg == "ES256" else "Ed25519")
    response = client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, key, clock, alg)))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("aifi_at_")
    assert body["expires_in"] == 600
    assert body["scope"] == "routing:decide usage:report bundle:read feedback:report"
    assert response.headers["Cache-Control"] == "no-store"
    assert _api_ok(client, body["access_token"])


def test_client_secret_basic_success(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    response = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                 "scope": "routing:decide"},
                           headers=basic(gateway.client_id, secret))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "routing:decide"
    assert _api_ok(client, body["access_token"])


def test_wrong_secret_is_invalid_client(client, session, clock, world):
    gateway, _ = secret_gateway(session, clock, world.hospital)
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=basic(gateway.client_id, "aifi_cs_wrong"))
    _error(response, 401, "invalid_client")


def test_unknown_client_is_invalid_client(client, session, clock, world):
    key = new_key("Ed25519")
    response = client.post("/oauth/token", data=jwt_form(assertion("gw_nobody", key, clock)))
    _error(response, 401, "invalid_client")
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=basic("gw_nobody", "aifi_cs_x"))
    _error(response, 401, "invalid_client")


def test_no_client_authentication_is_invalid_client(client):
    _error(client.post("/oauth/token", data={"grant_type": "client_credentials"}), 401, "invalid_client")


def test_bad_assertion_signature(client, session, clock, world):
    gateway, _key = keyed_gateway(session, clock, world.hospital)
    other = new_key("Ed25519")
    response = client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, other, clock)))
    _error(response, 401, "invalid_client")


def test_tampered_assertion(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    header, payload, sig = assertion(gateway.client_id, key, clock).split(".")
    forged = assertion(gateway.client_id, new_key("Ed25519"), clock, exp=later(clock, minutes=4))
    response = client.post("/oauth/token", data=jwt_form(".".join([header, forged.split(".")[1], sig])))
    _error(response, 401, "invalid_client")


def test_algorithm_must_match_the_registered_key(client, session, clock, world):
    """An ES256 assertion for a gateway registered with an Ed25519 key is refused."""
    gateway, _ = keyed_gateway(session, clock, world.hospital, "Ed25519")
    response = client.post("/oauth/token",
                           data=jwt_form(assertion(gateway.client_id, new_key("ES256"), clock, "ES256")))
    _error(response, 401, "invalid_client")


@pytest.mark.parametrize("claims, description", [
    ({"exp": "later"}, "claim 'exp' must be a number of seconds since the epoch "
                       "(a date between 2000 and 9999)"),
    ({"exp": None}, "claim 'exp' is required"),
    ({"jti": None}, "claim 'jti' is required (a unique string)"),
    ({"aud": "https://elsewhere.example/oauth/token"}, f"aud must be {TOKEN_URL}"),
    ({"aud": ["https://elsewhere.example/oauth/token"]}, f"aud must be {TOKEN_URL}"),
    ({"iss": "gw_someone_else"}, "iss and sub must both be the client_id"),
    ({"nbf": 4102444800}, "the client assertion is not yet valid"),
])
def test_assertion_claims_are_checked(client, session, clock, world, claims, description):
    """Each refusal says why: none of these reasons tells whether the client exists."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    response = client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, key, clock, **claims)))
    _error(response, 401, "invalid_client")
    assert response.get_json()["error_description"] == description


def test_an_audience_list_naming_the_token_endpoint_is_accepted(client, session, clock, world):
    """RFC 7519 §4.1.3: aud may be a list; it must name this server among its audiences."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock, aud=["https://elsewhere.example/", TOKEN_URL])
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200


def test_a_token_issued_is_logged_by_client_and_scope_never_by_value(client, session, clock, world,
                                                                     caplog):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    with caplog.at_level("INFO", logger="registry.oauth"):
        response = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                      "scope": "routing:decide"},
                               headers=basic(gateway.client_id, secret))
    assert response.status_code == 200
    issued = [r.getMessage() for r in caplog.records if r.name == "registry.oauth"]
    assert issued == [f"access token issued to {gateway.client_id} (scope routing:decide)"]
    assert response.get_json()["access_token"] not in caplog.text
    # And the access log (NEN 7513) records the same, with the token's expiry.
    entry = session.scalar(select(AuditEntry).where(AuditEntry.event_type == TOKEN_ISSUED)
                           .order_by(AuditEntry.id.desc()).limit(1))
    expires = clock.now() + timedelta(seconds=response.get_json()["expires_in"])
    assert (entry.object_id, entry.detail["scope"]) == (gateway.client_id, "routing:decide")
    assert datetime.fromisoformat(entry.detail["expires_at"]) == expires


_EPOCH_CLAIM = "must be a number of seconds since the epoch (a date between 2000 and 9999)"


@pytest.mark.parametrize("offsets, description", [
    # Thirty seconds of leeway on every bound; an hour at most between now and exp.
    ({"exp": 3630}, None),
    ({"exp": 3631}, "the client assertion lives too long; keep exp within 3600 seconds of now"),
    ({"nbf": 0}, None),
    ({"nbf": 30}, None),
    ({"nbf": 31}, "the client assertion is not yet valid"),
    ({"iat": 30}, None),
    ({"iat": 31}, "the client assertion was issued in the future"),
    ({"nbf": "soon"}, f"claim 'nbf' {_EPOCH_CLAIM}"),
    ({"iat": "now"}, f"claim 'iat' {_EPOCH_CLAIM}"),
    # jti: a printable string of 1 to 200 characters.
    ({"jti": "j"}, None),
    ({"jti": "j" * 200}, None),
    ({"jti": ""}, "claim 'jti' is required (a unique string)"),
    ({"jti": "j" * 201}, "claim 'jti' is required (a unique string)"),
    ({"jti": "j\tk"}, "claim 'jti' is required (a unique string)"),
])
def test_the_time_claims_and_the_jti_are_judged_at_their_bounds(client, session, clock, world, offsets,
                                                                description):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    now = int(clock.now().timestamp())
    claims = {name: now + value if isinstance(value, int) else value for name, value in offsets.items()}
    response = client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, key, clock, **claims)))
    if description is None:
        assert response.status_code == 200, response.get_json()
    else:
        _error(response, 401, "invalid_client")
        assert response.get_json()["error_description"] == description


def test_an_assertion_expired_within_the_leeway_is_still_accepted(client, session, clock, world):
    """Thirty seconds of leeway for clocks that differ: an assertion that expired 29 seconds ago
    is accepted, one that expired 30 seconds ago is not."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    now = int(clock.now().timestamp())
    accepted = assertion(gateway.client_id, key, clock, iat=now - 60, exp=now - 29)
    assert client.post("/oauth/token", data=jwt_form(accepted)).status_code == 200
    refused = client.post("/oauth/token", data=jwt_form(
        assertion(gateway.client_id, key, clock, iat=now - 60, exp=now - 30)))
    _error(refused, 401, "invalid_client")
    assert refused.get_json()["error_description"] == "the client assertion has expired"


def test_expired_assertion(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock, exp=later(clock, seconds=60))
    clock.advance(minutes=2)
    _error(client.post("/oauth/token", data=jwt_form(value)), 401, "invalid_client")


def test_assertion_lifetime_up_to_an_hour_is_accepted_and_longer_refused_with_the_reason(
        client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock, exp=later(clock, minutes=60))
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200
    value = assertion(gateway.client_id, key, clock, exp=later(clock, minutes=62))
    response = client.post("/oauth/token", data=jwt_form(value))
    _error(response, 401, "invalid_client")
    assert "lives too long" in response.get_json()["error_description"]


def test_issuer_is_an_accepted_audience(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock, aud=TOKEN_URL.removesuffix("/oauth/token"))
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200


def test_replayed_assertion_jti(client, session, clock, world):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock)
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200
    replayed = client.post("/oauth/token", data=jwt_form(value))
    _error(replayed, 401, "invalid_client")
    assert replayed.get_json()["error_description"] == "this client assertion (jti) has been used before"


def test_a_jti_is_remembered_through_its_assertion_s_leeway(client, session, clock, world):
    """An assertion is accepted until thirty seconds past its exp, so its jti must be kept that
    long, even when the same client's next request drops the jtis that have expired."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock)  # exp in 60 s
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200
    clock.advance(seconds=70)  # past exp, within the leeway: still acceptable but for its jti
    fresh = assertion(gateway.client_id, key, clock)  # the client's next request drops expired jtis
    assert client.post("/oauth/token", data=jwt_form(fresh)).status_code == 200
    _error(client.post("/oauth/token", data=jwt_form(value)), 401, "invalid_client")


def test_replay_after_a_failed_request_is_still_refused(client, session, clock, world):
    """The jti is consumed even when the request fails on scope: no second try with another scope."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock)
    _error(client.post("/oauth/token", data=jwt_form(value, scope="admin")), 400, "invalid_scope")
    _error(client.post("/oauth/token", data=jwt_form(value)), 401, "invalid_client")


def test_password_grant_is_unsupported(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    response = client.post("/oauth/token", data={"grant_type": "password", "username": "a",
                                                 "password": "b"},
                           headers=basic(gateway.client_id, secret))
    _error(response, 400, "unsupported_grant_type")


def test_invalid_scope(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    response = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                 "scope": "routing:decide tokens:introspect"},
                           headers=basic(gateway.client_id, secret))
    _error(response, 400, "invalid_scope")


@pytest.mark.parametrize("status", ["revoked", "suspended"])
def test_inactive_gateway_gets_no_token(client, session, clock, world, status):
    gateway, key = keyed_gateway(session, clock, world.hospital)
    gateways.set_gateway_status(session, actor=SYSTEM, clock=clock, client_id=gateway.client_id,
                                status=status)
    session.commit()
    _error(client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, key, clock))),
           401, "invalid_client")


def test_gateway_of_an_inactive_hospital_gets_no_token(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    organisations.set_organisation_status(session, actor=SYSTEM, clock=clock,
                                          organisation_id=world.hospital.id, status="suspended",
                                          reason="test")
    session.commit()
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=basic(gateway.client_id, secret))
    _error(response, 401, "invalid_client")


def test_suspended_gateways_live_token_stops_working(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(gateway.client_id, secret)).get_json()["access_token"]
    assert _api_ok(client, token)
    gateways.set_gateway_status(session, actor=SYSTEM, clock=clock, client_id=gateway.client_id,
                                status="suspended", reason="incident")
    session.commit()
    assert not _api_ok(client, token)
    # Reactivation does not bring old tokens back: the gateway must ask for a new one.
    gateways.set_gateway_status(session, actor=SYSTEM, clock=clock, client_id=gateway.client_id,
                                status="active")
    session.commit()
    assert not _api_ok(client, token)


def test_rotated_key_old_key_refused(client, session, clock, world):
    gateway, old = keyed_gateway(session, clock, world.hospital)
    fresh = new_key("ES256")
    gateways.rotate_credential(session, actor=SYSTEM, clock=clock, client_id=gateway.client_id,
                               public_jwk=fresh.as_dict(private=False))
    session.commit()
    _error(client.post("/oauth/token", data=jwt_form(assertion(gateway.client_id, old, clock))),
           401, "invalid_client")
    value = assertion(gateway.client_id, fresh, clock, "ES256")
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200


def test_a_gateway_may_ask_for_the_feedback_scope(client, session, clock, world):
    """Radiologists' feedback (POST /api/v1/feedback) needs a token with feedback:report."""
    gateway, secret = secret_gateway(session, clock, world.hospital)
    response = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "feedback:report"},
                           headers=basic(gateway.client_id, secret))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "feedback:report"
    answer = client.post("/api/v1/feedback", json={"decision_id": "none", "assessor": "r1", "assessment": "agree"},
                         headers={"Authorization": f"Bearer {response.get_json()['access_token']}"})
    assert answer.status_code == 404  # past the scope check: no such decision of this hospital


def test_metadata(client):
    body = client.get("/.well-known/oauth-authorization-server").get_json()
    assert body["issuer"] == "http://127.0.0.1:5000"
    assert body["token_endpoint"] == TOKEN_URL
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "client_secret_basic"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["Ed25519", "EdDSA", "ES256"]
    assert set(body["scopes_supported"]) == {"routing:decide", "usage:report", "bundle:read", "feedback:report"}
    for name in ("revocation_endpoint", "introspection_endpoint", "jwks_uri"):
        assert body[name].startswith("http://127.0.0.1:5000/")


def test_an_assertion_may_come_with_its_own_client_id_in_the_form(client, session, clock, world):
    """RFC 6749 §2.3.1 lets a client name itself beside its credential; the same id is fine."""
    gateway, key = keyed_gateway(session, clock, world.hospital)
    value = assertion(gateway.client_id, key, clock)
    assert client.post("/oauth/token", data=jwt_form(value, client_id=gateway.client_id)).status_code == 200
