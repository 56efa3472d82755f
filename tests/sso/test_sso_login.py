"""Single sign-on end to end: the Flask test client, a real OIDC provider on a loopback port."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from registry.db.changes import ChangeRecord
from registry.db.identity import IdentityLink
from registry.services.users import create_user
from tests.conftest import DEMO_NOW
from tests.factories import SYSTEM
from tests.sso.conftest import CLIENT_SECRET, signed_in_user, sso_login, user_by_email


def test_login_lands_in_the_providers_organisation_with_mapped_roles(client, session, sso, idp):
    response = sso_login(client, sso.provider.id)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = signed_in_user(client, session)
    assert user is not None and user.email == "alice@ziekenhuis.example"
    assert user.organisation_id == sso.hospital.id
    assert user.roles == ["legal"]
    assert user.password_hash is None  # signs in through the provider only
    link = session.scalar(select(IdentityLink).where(IdentityLink.user_id == user.id))
    assert (link.provider_id, link.subject) == (sso.provider.id, "alice-0001")
    # The creation is a change of its own, by the provider's actor, not by an anonymous nobody.
    created = session.scalar(select(ChangeRecord).where(ChangeRecord.object_type == "users",
                                                        ChangeRecord.object_id == str(user.id)))
    assert created.actor == f"system:sso:{sso.provider.id}" and created.action == "create"
    # PKCE was used: the token request carried the verifier the provider then checked.
    assert idp.token_requests and idp.token_requests[-1].get("code_verifier")
    assert client.get("/").status_code == 200


def test_unknown_user_without_a_mapped_role_becomes_viewer(client, session, sso, idp):
    idp.user.update(sub="bob-0002", email="bob@ziekenhuis.example", roles=["onbekende-rol"])
    assert sso_login(client, sso.provider.id).status_code == 302
    user = signed_in_user(client, session)
    assert user.roles == ["viewer"] and user.organisation_id == sso.hospital.id


def test_roles_follow_the_provider_and_keep_what_an_admin_granted(client, session, sso, idp, clock):
    assert sso_login(client, sso.provider.id).status_code == 302
    user = signed_in_user(client, session)
    # An admin grants auditor in the registry; the provider then moves Alice to procurement.
    user.roles = sorted([*user.roles, "auditor"])
    session.commit()
    idp.user["roles"] = ["radiologie-inkoop"]
    assert sso_login(client, sso.provider.id).status_code == 302
    session.refresh(user)
    assert user.roles == ["auditor", "procurement", "viewer"]
    # Without any provider role only the admin's grant remains.
    idp.user["roles"] = []
    assert sso_login(client, sso.provider.id).status_code == 302
    session.refresh(user)
    assert user.roles == ["auditor"]


def test_existing_user_of_the_same_organisation_is_linked_by_email(client, session, sso, idp, clock):
    user, _ = create_user(session, actor=SYSTEM, clock=clock, email="alice@ziekenhuis.example",
                          roles=["privacy_officer"], organisation_id=sso.hospital.id)
    session.commit()
    assert sso_login(client, sso.provider.id).status_code == 302
    assert signed_in_user(client, session).id == user.id
    session.refresh(user)
    assert user.roles == ["legal", "privacy_officer"]


@pytest.mark.parametrize("owner", ["other_hospital", "national_staff"])
def test_provider_cannot_sign_in_a_user_of_another_organisation(client, session, sso, idp, clock, owner):
    organisation_id = sso.other_hospital.id if owner == "other_hospital" else None
    victim, _ = create_user(session, actor=SYSTEM, clock=clock, email="victim@ziekenhuis.example",
                            roles=["admin"], organisation_id=organisation_id)
    session.commit()
    idp.user.update(sub="mallory-0003", email="victim@ziekenhuis.example")
    response = sso_login(client, sso.provider.id)
    assert response.status_code == 403
    assert "andere organisatie" in response.get_data(as_text=True) or \
        "another organisation" in response.get_data(as_text=True)
    assert signed_in_user(client, session) is None
    assert session.scalar(select(IdentityLink).where(IdentityLink.user_id == victim.id)) is None
    session.refresh(victim)
    assert victim.roles == ["admin"] and victim.organisation_id == organisation_id


def test_a_linked_user_moved_to_another_organisation_is_refused(client, session, sso, idp):
    assert sso_login(client, sso.provider.id).status_code == 302
    user = signed_in_user(client, session)
    user.organisation_id = sso.other_hospital.id
    session.commit()
    with client.session_transaction() as s:
        s.clear()
    assert sso_login(client, sso.provider.id).status_code == 403
    assert signed_in_user(client, session) is None


def test_disabled_user_is_refused(client, session, sso, idp):
    assert sso_login(client, sso.provider.id).status_code == 302
    user = signed_in_user(client, session)
    user.active = False
    session.commit()
    with client.session_transaction() as s:
        s.clear()
    assert sso_login(client, sso.provider.id).status_code == 403
    assert signed_in_user(client, session) is None


NOW = int(DEMO_NOW.timestamp())


@pytest.mark.parametrize("overrides, rejected", [
    pytest.param({"nonce": "another-attempts-nonce"}, "claim nonce", id="bad-nonce"),
    pytest.param({"nonce": None}, "claim nonce", id="no-nonce"),
    pytest.param({"aud": "some-other-client"}, "claim aud", id="wrong-audience"),
    pytest.param({"aud": ["aifi-registry", "other"]}, "claim azp", id="several-audiences-without-azp"),
    pytest.param({"iss": "http://127.0.0.1:1/other-issuer"}, "claim iss", id="wrong-issuer"),
    pytest.param({"exp": NOW - 3600}, "claim exp", id="expired"),
    pytest.param({"iat": NOW + 3600}, "claim iat", id="issued-in-the-future"),
    pytest.param({"sub": None}, "claim sub", id="no-subject"),
])
def test_invalid_id_tokens_are_refused(client, session, sso, idp, caplog, overrides, rejected):
    idp.claim_overrides = overrides
    response = sso_login(client, sso.provider.id)
    assert response.status_code == 400
    assert f"reason=ID_TOKEN_INVALID {rejected} rejected" in caplog.text
    assert signed_in_user(client, session) is None
    assert user_by_email(session, "alice@ziekenhuis.example") is None


def test_the_invalid_token_cases_can_pass(client, session, sso, idp):
    """The cases above differ from a good login only in the claim they change."""
    idp.claim_overrides = {"aud": ["aifi-registry", "other"], "azp": "aifi-registry"}
    assert sso_login(client, sso.provider.id).status_code == 302


def test_bad_signature_is_refused(client, session, sso, idp, caplog):
    idp.sign_with_rogue_key = True
    assert sso_login(client, sso.provider.id).status_code == 400
    assert "reason=ID_TOKEN_INVALID signature or format (BadSignatureError)" in caplog.text
    assert signed_in_user(client, session) is None


def test_a_changed_state_is_refused(client, session, sso, idp, caplog):
    def swap_state(s):  # noqa: ANN001
        s["sso"] = {**s["sso"], "state": "forged-state"}

    assert sso_login(client, sso.provider.id, tamper=swap_state).status_code == 400
    assert "reason=STATE_MISMATCH" in caplog.text
    assert signed_in_user(client, session) is None


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(client, session, sso, idp, caplog):
    def swap_verifier(s):  # noqa: ANN001
        s["sso"] = {**s["sso"], "code_verifier": "x" * 64}

    assert sso_login(client, sso.provider.id, tamper=swap_verifier).status_code == 400
    assert "reason=TOKEN_EXCHANGE_FAILED" in caplog.text
    assert signed_in_user(client, session) is None


def test_a_callback_cannot_be_replayed(client, session, sso, idp):
    import requests
    from urllib.parse import urlsplit

    start = client.get(f"/sso/{sso.provider.id}/login")
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
                    .headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    with client.session_transaction() as s:
        s.clear()
    assert client.get(f"{back.path}?{back.query}").status_code == 400


def test_unverified_email_is_refused(client, session, sso, idp):
    idp.user["email_verified"] = False
    assert sso_login(client, sso.provider.id).status_code == 403
    assert user_by_email(session, "alice@ziekenhuis.example") is None


def test_inactive_provider_cannot_start_a_login(client, session, sso):
    sso.provider.active = False
    session.commit()
    assert client.get(f"/sso/{sso.provider.id}/login").status_code == 404
    assert client.get("/sso/999999/login").status_code == 404


def test_login_page_lists_the_providers_in_both_languages(client, sso):
    dutch = client.get("/login?lang=nl").get_data(as_text=True)
    assert f"Inloggen met {sso.hospital.name}" in dutch
    assert f"/sso/{sso.provider.id}/login" in dutch
    english = client.get("/login?lang=en").get_data(as_text=True)
    assert f"Sign in with {sso.hospital.name}" in english


def test_secrets_codes_and_tokens_are_never_logged(client, session, sso, idp, caplog):
    caplog.set_level(logging.DEBUG)
    idp.claim_overrides = {"aud": "some-other-client"}  # a failure logs too
    assert sso_login(client, sso.provider.id).status_code == 400
    idp.claim_overrides = {}
    assert sso_login(client, sso.provider.id).status_code == 302
    assert "single sign-on failed" in caplog.text  # the check looks at real log output
    assert CLIENT_SECRET not in caplog.text
    assert "eyJ" not in caplog.text  # no JWT (id_token) in any log line
    assert "code=" not in caplog.text


def test_an_authorization_response_from_another_issuer_is_refused(client, session, sso, idp, caplog):
    # RFC 9207: the provider names itself in the response; a mix-up with another provider shows.
    response = sso_login(client, sso.provider.id,
                         rewrite=lambda q: q.replace("iss=http", "iss=https"))
    assert response.status_code == 400 and "reason=ISSUER_MISMATCH" in caplog.text
    assert signed_in_user(client, session) is None


@pytest.mark.parametrize("asked, lands", [("/audit", "/audit"), ("//evil.example/x", "/"),
                                          ("https://evil.example/", "/"),
                                          ("/\\evil.example/x", "/")])
def test_sign_in_returns_to_a_local_page_only(client, session, sso, idp, asked, lands):
    from urllib.parse import quote

    response = sso_login(client, sso.provider.id, start_query=f"?next={quote(asked, safe='')}")
    assert response.status_code == 302 and response.headers["Location"] == lands


@pytest.mark.parametrize("issuer, detail", [
    # Discovery §4.3: the document must name exactly the registered issuer.
    pytest.param("{issuer}/", "PROVIDER_INVALID: the discovery document names another issuer", id="other-issuer"),
    # Nothing listens on port 1 of the loopback address.
    pytest.param("http://127.0.0.1:1", "PROVIDER_UNREACHABLE", id="unreachable"),
])
def test_a_broken_provider_is_a_bad_gateway(client, session, sso, idp, caplog, issuer, detail):
    sso.provider.issuer = issuer.format(issuer=idp.issuer)
    session.commit()
    response = client.get(f"/sso/{sso.provider.id}/login")
    assert response.status_code == 502
    assert f"reason=UNAVAILABLE {detail}" in caplog.text
