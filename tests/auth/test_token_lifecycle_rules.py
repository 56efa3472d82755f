"""What a token records of its own life and what introspection says of it: the session token's
issue, a personal token's last use (the /tokens page shows it; written at most once a minute so
that a busy script does not write on every call), and the fields of an RFC 7662 answer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from registry.auth.secrets import hash_secret
from registry.auth.tokens import (STAFF_SCOPE, actor_for_token, issue_gateway_token, issue_user_token,
                                  touch_token)
from registry.db.oauth import AccessToken
from registry.db.users import User
from registry.services import api_tokens
from tests.auth.helpers import basic, secret_gateway, staff_bearer
from tests.factories import SYSTEM

AUDITOR = "auditor@demo.aifi.nl"  # holds tokens:introspect
PROCUREMENT = "inkoop@demo.aifi.nl"  # holds contracts:read


def _user(session, email: str) -> User:  # noqa: ANN001
    return session.scalar(select(User).where(User.email == email))


def _personal(session, clock, email: str = PROCUREMENT, name: str = "reporting script") -> str:  # noqa: ANN001
    user = _user(session, email)
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id,
                                               name=name, scopes=["contracts:read"])
    session.commit()
    return created.token


def _last_used(session, token: str):  # noqa: ANN001, ANN202
    return session.scalar(select(AccessToken.last_used_at)
                          .where(AccessToken.token_hash == hash_secret(token))
                          .execution_options(populate_existing=True))


# --- issuing a session token -------------------------------------------------------------------


def test_a_session_token_is_issued_with_the_staff_scope_for_the_lifetime_asked(session, clock):
    """What the issuer hands back describes the stored token: the staff scope (the person's roles,
    not a list of permissions) and the lifetime asked for."""
    user = _user(session, AUDITOR)
    issued = issue_user_token(session, clock=clock, user=user, ttl=900)
    assert issued.expires_in == 900
    assert issued.scope == STAFF_SCOPE == "staff"
    stored = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_secret(issued.access_token)))
    assert issued.row is stored
    assert stored.scope == issued.scope and stored.user_id == user.id
    assert stored.expires_at - stored.issued_at == timedelta(seconds=900)


# --- when a token stops working ----------------------------------------------------------------


def test_a_token_works_until_the_second_before_it_expires_and_not_at_that_second(session, clock, world):
    issued = issue_gateway_token(session, clock=clock, gateway=world.gateway, scope="routing:decide", ttl=600)
    clock.advance(seconds=599)
    assert actor_for_token(session, clock=clock, token=issued.access_token) is not None
    clock.advance(seconds=1)
    assert actor_for_token(session, clock=clock, token=issued.access_token) is None


def test_a_persons_token_stops_when_the_person_is_disabled_in_the_database(session, clock):
    """Even with the token never revoked (a disable written straight into the database, a service
    that forgot): the person is read on every use, as a gateway is (tests/test_rules.py, rule 3)."""
    token = _personal(session, clock)
    assert actor_for_token(session, clock=clock, token=token) is not None
    _user(session, PROCUREMENT).active = False  # no service, so no token revocation
    session.commit()
    assert actor_for_token(session, clock=clock, token=token) is None


# --- a personal token's last use ---------------------------------------------------------------


def test_the_first_use_of_a_personal_token_is_recorded_at_that_moment(session, clock):
    token = _personal(session, clock)
    assert _last_used(session, token) is None
    clock.advance(minutes=5)
    assert touch_token(session, clock=clock, token=token) is True
    assert _last_used(session, token) == clock.now()


def test_a_second_use_within_the_minute_writes_nothing_and_says_so(session, clock):
    token = _personal(session, clock)
    first = clock.now()
    assert touch_token(session, clock=clock, token=token) is True
    clock.advance(seconds=30)
    assert touch_token(session, clock=clock, token=token) is False
    assert _last_used(session, token) == first


def test_a_use_is_recorded_again_only_once_more_than_a_minute_has_passed(session, clock):
    """At most once a minute: exactly a minute after the recorded use is still within it; one
    second more, and the new use is recorded."""
    token = _personal(session, clock)
    first = clock.now()
    assert touch_token(session, clock=clock, token=token) is True
    clock.advance(seconds=60)
    assert touch_token(session, clock=clock, token=token) is False
    assert _last_used(session, token) == first
    clock.advance(seconds=1)
    assert touch_token(session, clock=clock, token=token) is True
    assert _last_used(session, token) == first + timedelta(seconds=61)


def test_a_use_is_recorded_on_the_token_used_and_no_other(session, clock):
    used = _personal(session, clock, name="used")
    other = _personal(session, clock, name="other, same person")
    someone_elses = _personal(session, clock, email=AUDITOR, name="the auditor's")
    assert touch_token(session, clock=clock, token=used) is True
    assert _last_used(session, used) == clock.now()
    assert _last_used(session, other) is None
    assert _last_used(session, someone_elses) is None


def test_a_gateway_token_is_never_touched(session, clock, world):
    """Last use is kept for a person's tokens only: a gateway's calls (every routing decision)
    do not write."""
    issued = issue_gateway_token(session, clock=clock, gateway=world.gateway, scope="routing:decide", ttl=600)
    assert touch_token(session, clock=clock, token=issued.access_token) is False
    assert _last_used(session, issued.access_token) is None


def test_the_use_of_a_personal_token_on_a_route_that_only_reads_is_kept(client, session, clock):
    """The route itself commits nothing: the edge commits the last-use time when it wrote it, or
    it would be rolled back with the request's session."""
    token = _personal(session, clock)
    clock.advance(minutes=2)
    assert client.get("/api/v1/contracts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert _last_used(session, token) == clock.now()


# --- introspection -----------------------------------------------------------------------------


def _introspect(client, session, clock, token: str) -> dict:  # noqa: ANN001
    response = client.post("/oauth/introspect", data={"token": token},
                           headers=staff_bearer(session, clock, AUDITOR))
    assert response.status_code == 200
    return response.get_json()


def test_introspection_of_a_gateway_token_answers_every_documented_field(client, session, clock, world):
    """docs/gateways.md: active, client_id, scope, token_type, iat, exp, sub, hospital. The type
    is "Bearer", as the token endpoint named it; the subject is the gateway's client id."""
    gateway, secret = secret_gateway(session, clock, world.hospital)
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "routing:decide"},
                         headers=basic(gateway.client_id, secret)).get_json()
    body = _introspect(client, session, clock, answer["access_token"])
    assert body == {"active": True, "client_id": gateway.client_id, "token_type": answer["token_type"],
                    "scope": "routing:decide", "iat": int(clock.now().timestamp()),
                    "exp": int(clock.now().timestamp()) + 600, "sub": gateway.client_id,
                    "hospital": world.hospital.ura}
    assert body["token_type"] == "Bearer"


def test_introspection_of_a_personal_token_names_the_person_and_no_hospital(client, session, clock):
    user = _user(session, PROCUREMENT)
    token = _personal(session, clock)
    body = _introspect(client, session, clock, token)
    issued = int(clock.now().timestamp())
    assert body == {"active": True, "client_id": f"user:{user.id}", "token_type": "Bearer",
                    "scope": "contracts:read", "iat": issued, "exp": issued + api_tokens.DEFAULT_DAYS * 86400,
                    "sub": f"user:{user.id}"}
