"""Users in the UI (users:manage): create with a one-time password shown once, change roles and
organisation, disable and enable, reset the password; the last administrator stays; scope."""

from __future__ import annotations

import re

from sqlalchemy import select
from werkzeug.security import check_password_hash

from registry.db.users import User
from tests.web.admin_helpers import (HOSPITAL_ADMIN, HOSPITAL_ADMIN_PASSWORD, assert_field_error, changes,
                                     hospital, hospital_admin, post_form)
from tests.factories import SYSTEM
from tests.web.helpers import csrf_token, login

ADMIN = "admin@demo.aifi.nl"


def _password(html: str) -> str:
    return html.split('id="one-time-password">', 1)[1].split("<", 1)[0].strip()


def _can_log_in(app, email: str, password: str) -> bool:  # noqa: ANN001
    other = app.test_client()
    page = other.get("/login").get_data(as_text=True)
    return other.post("/login", data={"email": email, "password": password,
                                      "csrf_token": csrf_token(page)}).status_code == 302


def _create(client, session, email: str = "nieuw@demo.aifi.nl", **extra):  # noqa: ANN001, ANN202
    data = {"email": email, "name": "Nieuwe Collega", "organisation_id": "", "roles": ["legal", "auditor"],
            "locale": "en", **extra}
    response = post_form(client, "/users/new", data)
    return response, session.scalar(select(User).where(User.email == email))


def test_create_shows_a_one_time_password_once(app, client, session):
    login(client, ADMIN)
    assert "/users/new" in client.get("/users?lang=en").get_data(as_text=True)
    response, user = _create(client, session)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = _password(response.get_data(as_text=True))
    assert len(password) >= 16
    assert (user.roles, user.organisation_id, user.locale, user.name) == (["auditor", "legal"], None, "en",
                                                                        "Nieuwe Collega")
    assert password not in user.password_hash and check_password_hash(user.password_hash, password)
    assert password not in client.get(f"/users/{user.id}").get_data(as_text=True)
    assert _can_log_in(app, user.email, password)
    [record] = changes(session, "users", user.id, "create")
    assert record.actor.startswith("user:") and "password_hash" not in record.after


def test_create_errors_beside_their_fields(client, session):
    login(client, ADMIN)
    client.get("/?lang=en")
    response = post_form(client, "/users/new", {"email": "not-an-address", "name": "Kept Name",
                                                "organisation_id": "", "locale": "en"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert_field_error(html, "email")
    assert_field_error(html, "roles")
    assert 'value="Kept Name"' in html and 'value="not-an-address"' in html
    taken = post_form(client, "/users/new", {"email": ADMIN, "roles": ["viewer"], "organisation_id": ""})
    assert "This e-mail address already has an account." in taken.get_data(as_text=True)


def test_change_roles_and_organisation(client, session):
    login(client, ADMIN)
    _, user = _create(client, session)
    noord = hospital(session, "Demo Ziekenhuis Noord")
    page = client.get(f"/users/{user.id}/edit").get_data(as_text=True)
    assert re.search(r'<input checked id="roles-\d+" name="roles" type="checkbox" value="auditor">', page)
    assert re.search(r'<input id="roles-\d+" name="roles" type="checkbox" value="viewer">', page)
    response = post_form(client, f"/users/{user.id}/edit", {"name": "Nieuwe Collega", "roles": ["viewer"],
                                                           "organisation_id": str(noord.id), "locale": "nl"})
    assert response.status_code == 302
    session.expire_all()
    assert (user.roles, user.organisation_id, user.locale) == (["viewer"], noord.id, "nl")
    [record] = changes(session, "users", user.id, "update")
    assert record.before["roles"] == ["auditor", "legal"] and record.after["organisation_id"] == noord.id


def test_disable_and_enable(app, client, session):
    login(client, ADMIN)
    response, user = _create(client, session)
    password = _password(response.get_data(as_text=True))
    detail = f"/users/{user.id}"
    assert post_form(client, f"/users/{user.id}/active", {"active": "0"}, page=detail).status_code == 302
    session.expire_all()
    assert user.active is False and not _can_log_in(app, user.email, password)
    assert changes(session, "users", user.id, "disable")
    assert post_form(client, f"/users/{user.id}/active", {"active": "1"}, page=detail).status_code == 302
    session.expire_all()
    assert user.active is True and _can_log_in(app, user.email, password)
    assert changes(session, "users", user.id, "enable")


def test_reset_password(app, client, session):
    login(client, ADMIN)
    response, user = _create(client, session)
    old = _password(response.get_data(as_text=True))
    reset = post_form(client, f"/users/{user.id}/password", {}, page=f"/users/{user.id}")
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    new = _password(reset.get_data(as_text=True))
    assert new != old and _can_log_in(app, user.email, new) and not _can_log_in(app, user.email, old)
    [record] = changes(session, "users", user.id, "reset_password")
    assert "password_hash" not in record.after and "password_hash" not in record.before


def test_the_last_admin_cannot_be_removed(client, session):
    login(client, ADMIN)
    client.get("/?lang=en")
    me = session.scalar(select(User).where(User.email == ADMIN))
    response = post_form(client, f"/users/{me.id}/active", {"active": "0"}, page=f"/users/{me.id}")
    assert response.status_code == 302
    page = client.get(f"/users/{me.id}").get_data(as_text=True)
    assert "last active administrator" in page and 'class="flash flash-error" role="alert"' in page
    edit = post_form(client, f"/users/{me.id}/edit", {"name": me.name, "roles": ["viewer"], "organisation_id": "",
                                                      "locale": "nl"})
    assert edit.status_code == 400
    assert_field_error(edit.get_data(as_text=True), "roles")
    session.expire_all()
    assert me.active and "admin" in me.roles
    # With a second administrator, the first may step down.
    _create(client, session, email="tweede@demo.aifi.nl", roles=["admin"])
    assert post_form(client, f"/users/{me.id}/edit", {"name": me.name, "roles": ["viewer"],
                                                      "organisation_id": "", "locale": "nl"}).status_code == 302


def test_without_users_manage_403(client, session):
    login(client, "inkoop@demo.aifi.nl")
    user = session.scalar(select(User).where(User.email == "lezer@demo.aifi.nl"))
    assert client.get("/users/new").status_code == 403
    assert client.get(f"/users/{user.id}/edit").status_code == 403
    for action in ("active", "password"):
        assert post_form(client, f"/users/{user.id}/{action}", {"active": "0"}, page="/tokens").status_code == 403
    session.expire_all()
    assert user.active


def test_a_hospital_admin_manages_only_their_own_people(client, session, clock):
    hospital_admin(session, clock)
    login(client, HOSPITAL_ADMIN, HOSPITAL_ADMIN_PASSWORD)
    oost = hospital(session, "Demo Ziekenhuis Oost")
    national = session.scalar(select(User).where(User.email == "lezer@demo.aifi.nl"))
    colleague = session.scalar(select(User).where(User.email == "privacy@oost.demo.aifi.nl"))
    listing = client.get("/users").get_data(as_text=True)
    assert colleague.email in listing and national.email not in listing
    assert client.get(f"/users/{national.id}/edit").status_code == 404
    assert post_form(client, f"/users/{national.id}/password", {}, page="/tokens").status_code == 404
    form = client.get("/users/new?lang=en").get_data(as_text=True)
    assert "national staff" not in form and f'value="{oost.id}"' in form
    response, user = _create(client, session, email="national@oost.test")  # organisation "" = national
    assert response.status_code == 400 and user is None
    assert "You can only manage people of your own organisation." in response.get_data(as_text=True)
    response, user = _create(client, session, email="collega@oost.test", organisation_id=str(oost.id))
    assert response.status_code == 200 and user.organisation_id == oost.id


def test_a_change_of_roles_a_disable_and_a_password_reset_end_the_persons_sessions(app, client, session, clock):
    from registry.services import api_tokens

    login(client, ADMIN)
    response, user = _create(client, session)
    password = _password(response.get_data(as_text=True))

    def logged_in_elsewhere():  # noqa: ANN202
        other = app.test_client()
        login(other, user.email, password)
        assert other.get("/tokens").status_code == 200
        return other

    for action in (lambda: post_form(client, f"/users/{user.id}/edit", {
                       "name": "x", "roles": ["viewer"], "organisation_id": "", "locale": "nl"}),
                   lambda: post_form(client, f"/users/{user.id}/active", {"active": "0"}, page=f"/users/{user.id}")):
        other = logged_in_elsewhere()
        token = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id,
                                                 name="script").token
        session.commit()
        assert action().status_code == 302
        assert other.get("/tokens").status_code == 302  # back to the login page
        assert client.get("/api/v1/organisations", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        post_form(client, f"/users/{user.id}/active", {"active": "1"}, page=f"/users/{user.id}")
    other = logged_in_elsewhere()
    reset = post_form(client, f"/users/{user.id}/password", {}, page=f"/users/{user.id}")
    assert reset.status_code == 200 and other.get("/tokens").status_code == 302
