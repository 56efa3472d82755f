"""RFC 7009 revocation, RFC 7662 introspection, and a gateway never acting for another hospital."""

from __future__ import annotations

import pytest

from registry.auth.tokens import actor_for_token, issue_gateway_token, issue_user_token, revoke_token
from registry.services import decisions as decision_service
from tests.auth.helpers import basic, secret_gateway, staff_bearer
from tests.factories import child_hand, make_world

AUDITOR = "auditor@demo.aifi.nl"  # holds tokens:introspect
PROCUREMENT = "inkoop@demo.aifi.nl"  # does not


@pytest.fixture
def world(session, clock):
    return make_world(session, clock)


def _token(client, gateway, secret, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = client.post("/oauth/token", data=data, headers=basic(gateway.client_id, secret))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def _introspect(client, session, clock, token: str, who: str = AUDITOR):  # noqa: ANN202
    return client.post("/oauth/introspect", data={"token": token}, headers=staff_bearer(session, clock, who))


def test_gateway_revokes_its_own_token(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, gateway, secret)
    assert _introspect(client, session, clock, token).get_json()["active"] is True
    response = client.post("/oauth/revoke", data={"token": token}, headers=basic(gateway.client_id, secret))
    assert response.status_code == 200
    assert _introspect(client, session, clock, token).get_json() == {"active": False}


def test_revoking_another_gateways_token_is_200_and_does_nothing(client, session, clock, world):
    mine, my_secret = secret_gateway(session, clock, world.hospital)
    theirs, their_secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, theirs, their_secret)
    response = client.post("/oauth/revoke", data={"token": token}, headers=basic(mine.client_id, my_secret))
    assert response.status_code == 200
    assert _introspect(client, session, clock, token).get_json()["active"] is True
    unknown = client.post("/oauth/revoke", data={"token": "aifi_at_unknown"},
                          headers=basic(mine.client_id, my_secret))
    assert unknown.status_code == 200


def test_revoking_a_token_revokes_that_one_only_and_once(session, clock, world):
    """Revocation stops the token named and no other (of the same gateway either); a second
    revocation changes nothing and says so (the first moment stays the recorded one)."""
    first = issue_gateway_token(session, clock=clock, gateway=world.gateway, scope="routing:decide", ttl=600)
    second = issue_gateway_token(session, clock=clock, gateway=world.gateway, scope="routing:decide", ttl=600)
    assert revoke_token(session, clock=clock, token=first.access_token) is True
    session.refresh(first.row)
    revoked_at = first.row.revoked_at
    assert revoked_at is not None
    assert actor_for_token(session, clock=clock, token=first.access_token) is None
    assert actor_for_token(session, clock=clock, token=second.access_token) is not None
    clock.advance(minutes=5)
    assert revoke_token(session, clock=clock, token=first.access_token) is False
    session.refresh(first.row)
    assert first.row.revoked_at == revoked_at


def test_a_personal_token_acts_with_its_scopes_and_a_session_token_with_the_roles(session, clock):
    """A personal API token grants exactly the permissions it names (its owner's roles bound
    them); a session ("staff") token grants what the roles hold."""
    from sqlalchemy import select

    from registry.db.users import User
    from registry.permissions import Permission, permissions_for_roles
    from registry.services import api_tokens
    from tests.factories import SYSTEM

    user = session.scalar(select(User).where(User.email == AUDITOR))
    personal = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id,
                                                name="audit script", scopes=["tokens:introspect", "audit:read"])
    actor = actor_for_token(session, clock=clock, token=personal.token)
    assert actor.permissions == {Permission.TOKENS_INTROSPECT, Permission.AUDIT_READ}
    staff = issue_user_token(session, clock=clock, user=user, ttl=600)
    assert actor_for_token(session, clock=clock, token=staff.access_token).permissions == \
        permissions_for_roles(user.roles)


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "something-else"])
def test_the_token_type_hint_is_only_a_hint(client, session, clock, world, hint):
    """RFC 7009 §2.1: a token is found whatever the hint says. Found by the fuzzer: an unknown
    hint was a 401 unsupported_token_type, which reads as failed client authentication."""
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, gateway, secret)
    response = client.post("/oauth/revoke", data={"token": token, "token_type_hint": hint},
                           headers=basic(gateway.client_id, secret))
    assert response.status_code == 200, response.get_json()
    assert _introspect(client, session, clock, token).get_json() == {"active": False}
    missing = client.post("/oauth/revoke", data={"token_type_hint": hint},
                          headers=basic(gateway.client_id, secret))
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"


def test_revoke_needs_client_authentication(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, gateway, secret)
    response = client.post("/oauth/revoke", data={"token": token})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_introspection_reports_the_token(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, gateway, secret, scope="bundle:read")
    body = _introspect(client, session, clock, token).get_json()
    assert body["active"] is True
    assert body["client_id"] == gateway.client_id and body["scope"] == "bundle:read"
    assert body["hospital"] == world.hospital.ura
    assert body["exp"] - body["iat"] == 600


def test_introspection_of_unknown_and_expired_tokens(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, gateway, secret)
    assert _introspect(client, session, clock, "aifi_at_nope").get_json() == {"active": False}
    assert _introspect(client, session, clock, "not-even-ours").get_json() == {"active": False}
    clock.advance(seconds=601)
    assert _introspect(client, session, clock, token).get_json() == {"active": False}


def test_introspection_needs_the_permission(client, session, clock, world):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    token = _token(client, gateway, secret)
    assert _introspect(client, session, clock, token, who=PROCUREMENT).status_code == 403
    # A gateway token is no staff token either.
    response = client.post("/oauth/introspect", data={"token": token},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert client.post("/oauth/introspect", data={"token": token}).status_code == 401


def test_token_of_hospital_a_cannot_read_hospital_bs_decision(client, session, clock, policy_engine):
    a = make_world(session, clock)
    b = make_world(session, clock)
    outcome = decision_service.decide(session, actor=b.actor, clock=clock, engine=policy_engine,
                                      request=child_hand(b.tool.slug))
    session.commit()
    gw_a, secret_a = secret_gateway(session, clock, a.hospital)
    token_a = _token(client, gw_a, secret_a)
    response = client.get(f"/api/v1/decisions/{outcome.decision.id}",
                          headers={"Authorization": f"Bearer {token_a}"})
    assert response.status_code == 404
    gw_b, secret_b = secret_gateway(session, clock, b.hospital)
    response = client.get(f"/api/v1/decisions/{outcome.decision.id}",
                          headers={"Authorization": f"Bearer {_token(client, gw_b, secret_b)}"})
    assert response.status_code == 200


@pytest.mark.parametrize("extra", [{"hospital": "B"}, {"hospital_ura": "80000002"},
                                   {"hospital_id": 1}])
def test_a_body_naming_a_hospital_is_refused(client, session, clock, world, extra):
    gateway, secret = secret_gateway(session, clock, world.hospital)
    body = child_hand(world.tool.slug).model_dump(mode="json", exclude_none=True)
    body.update(extra)
    response = client.post("/api/v1/decisions", json=body,
                           headers={"Authorization": f"Bearer {_token(client, gateway, secret)}"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_REQUEST"
