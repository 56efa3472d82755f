"""Registering identity providers: admins only, CSRF on every form, the secret sealed and unseen."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from registry.auth.secretbox import SealError, seal, unseal
from registry.db.changes import ChangeRecord
from registry.db.identity import IdentityProvider
from registry.services import identity_providers as service
from registry.services import organisations
from registry.services.errors import ValidationFailed
from tests.audit.test_web import login
from tests.factories import SYSTEM
from tests.sso.conftest import CLIENT_SECRET, sso_login

PAGES = ["/sso/providers", "/sso/providers/new", "/sso/providers/1/edit"]


@pytest.fixture
def hospital(session, clock):
    org = organisations.create_organisation(session, actor=SYSTEM, clock=clock, kind="hospital",
                                            name="Registratie Ziekenhuis")
    session.commit()
    return org


def _form(hospital_id: int | None = None, **overrides) -> dict[str, str]:  # noqa: ANN003
    data = {"issuer": "https://login.ziekenhuis.example/realms/staff", "client_id": "aifi-registry",
            "client_secret": "s3cret-from-the-hospital-idp", "roles_claim": "realm_access.roles",
            "role_mapping": "aifi-jurist = legal\naifi-inkoop = procurement, viewer", "active": "y"}
    if hospital_id is not None:
        data["organisation_id"] = str(hospital_id)
    data.update(overrides)
    return data


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("email", ["inkoop@demo.aifi.nl", "auditor@demo.aifi.nl", "privacy@demo.aifi.nl"])
@pytest.mark.parametrize("path", PAGES)
def test_others_than_admins_get_403(client, session, email, path):
    login(client, session, email)
    assert client.get(path).status_code == 403


def test_others_cannot_post_a_registration(app, client, session, hospital):
    app.config["WTF_CSRF_ENABLED"] = False  # so that the permission, not CSRF, answers
    login(client, session, "jurist@demo.aifi.nl")
    assert client.post("/sso/providers/new", data=_form(hospital.id)).status_code == 403
    assert session.scalar(select(IdentityProvider).where(IdentityProvider.organisation_id == hospital.id)) is None


def test_admin_registers_and_edits_a_provider(app, client, session, hospital, settings):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, session, "admin@demo.aifi.nl")
    page = client.get("/sso/providers/new?lang=en").get_data(as_text=True)
    assert "Register an identity provider" in page and "Registratie Ziekenhuis" in page
    assert "Identiteitsprovider registreren" in client.get("/sso/providers/new?lang=nl").get_data(as_text=True)
    response = client.post("/sso/providers/new", data=_form(hospital.id))
    assert response.status_code == 302, response.get_data(as_text=True)
    provider = session.scalar(select(IdentityProvider).where(IdentityProvider.organisation_id == hospital.id))
    assert provider.role_mapping == {"aifi-inkoop": ["procurement", "viewer"], "aifi-jurist": ["legal"]}
    assert provider.roles_claim == "realm_access.roles"
    # Sealed, not plain; and the change record does not carry it in any form.
    assert "s3cret" not in provider.client_secret_sealed
    opened = service.provider_client(session, provider_id=provider.id, secret_key=settings.secret_key)
    assert opened.client_secret == "s3cret-from-the-hospital-idp"
    record = session.scalar(select(ChangeRecord).where(ChangeRecord.object_type == "identity_providers",
                                                       ChangeRecord.object_id == str(provider.id)))
    assert record.action == "create" and "client_secret_sealed" not in record.after
    listing = client.get("/sso/providers").get_data(as_text=True)
    assert "Registratie Ziekenhuis" in listing and "s3cret" not in listing
    assert provider.client_secret_sealed not in listing

    edit = client.get(f"/sso/providers/{provider.id}/edit").get_data(as_text=True)
    assert "s3cret" not in edit and provider.client_secret_sealed not in edit
    # Empty secret: the old one stays.
    response = client.post(f"/sso/providers/{provider.id}/edit",
                           data=_form(client_secret="", client_id="renamed-client"))
    assert response.status_code == 302
    session.refresh(provider)
    assert provider.client_id == "renamed-client"
    assert service.provider_client(session, provider_id=provider.id,
                                   secret_key=settings.secret_key).client_secret == "s3cret-from-the-hospital-idp"


def test_registration_errors_are_shown_at_their_fields(app, client, session, hospital):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, session, "admin@demo.aifi.nl")
    response = client.post("/sso/providers/new?lang=en", data=_form(
        hospital.id, issuer="http://idp.example", role_mapping="aifi-beheer = admin"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page and 'href="#issuer"' in page and 'id="issuer-error"' in page
    assert "cannot map to admin" in page
    assert 'value="http://idp.example"' in page  # kept after the error
    assert session.scalar(select(IdentityProvider).where(IdentityProvider.organisation_id == hospital.id)) is None


def test_forms_need_a_csrf_token(client, session, hospital):
    login(client, session, "admin@demo.aifi.nl")
    assert client.post("/sso/providers/new", data=_form(hospital.id)).status_code == 400
    assert session.scalar(select(IdentityProvider).where(IdentityProvider.organisation_id == hospital.id)) is None


def test_one_provider_per_organisation(session, clock, settings, hospital):
    kw = {"actor": SYSTEM, "clock": clock, "secret_key": settings.secret_key}
    service.register_identity_provider(session, **kw, organisation_id=hospital.id,
                                       issuer="https://idp.example", client_id="a", client_secret="x")
    with pytest.raises(ValidationFailed) as err:
        service.register_identity_provider(session, **kw, organisation_id=hospital.id,
                                           issuer="https://idp2.example", client_id="b", client_secret="y")
    assert err.value.fields == {"organisation_id": "already has an identity provider"}
    assert hospital.id not in {o.id for o in service.organisations_without_provider(session, actor=SYSTEM)}


@pytest.mark.parametrize("field, value", [
    ("issuer", "ftp://idp.example"), ("issuer", "http://idp.example"),
    ("issuer", "https://idp.example/?x=1"), ("client_id", ""), ("client_secret", ""),
    ("roles_claim", "roles[0]"), ("role_mapping", {"x": ["superuser"]}), ("role_mapping", {"x": ["admin"]}),
])
def test_service_validation(session, clock, settings, hospital, field, value):
    fields = {"organisation_id": hospital.id, "issuer": "https://idp.example", "client_id": "a",
              "client_secret": "x", field: value}
    with pytest.raises(ValidationFailed) as err:
        service.register_identity_provider(session, actor=SYSTEM, clock=clock,
                                           secret_key=settings.secret_key, **fields)
    assert field in err.value.fields


def test_the_secret_box_binds_key_and_row():
    sealed = seal(CLIENT_SECRET, secret_key="k" * 40, purpose="p", context="identity_providers:1")
    assert unseal(sealed, secret_key="k" * 40, purpose="p", context="identity_providers:1") == CLIENT_SECRET
    assert CLIENT_SECRET not in sealed
    with pytest.raises(SealError):
        unseal(sealed, secret_key="other" * 8, purpose="p", context="identity_providers:1")
    with pytest.raises(SealError):
        unseal(sealed, secret_key="k" * 40, purpose="p", context="identity_providers:2")
    with pytest.raises(SealError):
        unseal(sealed[:-4] + "AAAA", secret_key="k" * 40, purpose="p", context="identity_providers:1")


def test_a_changed_secret_key_makes_sign_in_unavailable_not_broken(client, session, sso, app):
    app.extensions["registry"].settings = app.extensions["registry"].settings.model_copy(
        update={"secret_key": "a-rotated-secret-key-" + "y" * 32})
    response = client.get(f"/sso/{sso.provider.id}/login")
    assert response.status_code == 503


UNTRANSLATED = re.compile(r"(?<![/\w.])sso\.[a-z_.]+")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_page_is_translated(client, session, sso, idp, lang):
    login(client, session, "admin@demo.aifi.nl")
    pages = [client.get(f"{path}?lang={lang}") for path in
             ("/sso/providers", "/sso/providers/new", f"/sso/providers/{sso.provider.id}/edit", "/login")]
    with client.session_transaction() as s:
        s.clear()
        s["lang"] = lang
    idp.user["email_verified"] = False  # the refusal page
    pages.append(sso_login(client, sso.provider.id))
    assert [p.status_code for p in pages] == [200, 200, 200, 200, 403]
    for page in pages:
        text = page.get_data(as_text=True)
        assert UNTRANSLATED.findall(text) == []
    assert ("Inloggen via single sign-on is niet gelukt" if lang == "nl"
            else "Single sign-on did not succeed") in pages[-1].get_data(as_text=True)


def test_the_untranslated_check_can_fail():
    assert UNTRANSLATED.findall("<th>sso.field.issuer</th> <a href='/sso/providers'>") == ["sso.field.issuer"]
