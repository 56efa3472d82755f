"""Staff API for users (users:manage): POST (a one-time password, once, stored hashed), PATCH
(only the fields named), reset the password; the last administrator stays; scope."""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.security import check_password_hash

from registry.db.users import User
from tests.auth.helpers import staff_bearer
from tests.web.admin_helpers import HOSPITAL_ADMIN, changes, hospital, hospital_admin

ADMIN = "admin@demo.aifi.nl"


def _create(client, headers, **body):  # noqa: ANN001, ANN003, ANN202
    return client.post("/api/v1/users", headers=headers,
                       json={"email": "api.user@demo.aifi.nl", "roles": ["viewer"], **body})


def test_create_returns_the_one_time_password_once(client, session, clock):
    response = _create(client, staff_bearer(session, clock, ADMIN), name="Api User", locale="en")
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    password = body["one_time_password"]
    user = session.get(User, body["id"])
    assert check_password_hash(user.password_hash, password) and password not in user.password_hash
    assert (body["roles"], body["organisation"], body["locale"]) == (["viewer"], None, "en")
    again = client.get(f"/api/v1/users/{user.id}", headers=staff_bearer(session, clock, ADMIN)).get_json()
    assert "one_time_password" not in again and password not in str(again)
    assert changes(session, "users", user.id, "create")


def test_invalid_input_is_a_400(client, session, clock):
    headers = staff_bearer(session, clock, ADMIN)
    for body in ({"roles": []}, {"roles": ["king"]}, {"email": "nope"}, {"locale": "de"}, {"organisation_id": 999999},
                 {"password": "chosen-by-me"}):
        response = _create(client, headers, **body)
        assert response.status_code == 400, (body, response.get_json())
    assert session.scalar(select(User).where(User.email == "api.user@demo.aifi.nl")) is None


def test_patch_changes_only_the_fields_named(client, session, clock):
    headers = staff_bearer(session, clock, ADMIN)
    user_id = _create(client, headers, name="Keep Me", locale="en").get_json()["id"]
    noord = hospital(session, "Demo Ziekenhuis Noord")
    response = client.patch(f"/api/v1/users/{user_id}", headers=headers, json={"organisation_id": noord.id})
    assert response.status_code == 200, response.get_json()
    user = session.get(User, user_id)
    session.refresh(user)
    assert (user.organisation_id, user.name, user.roles, user.locale) == (noord.id, "Keep Me", ["viewer"], "en")
    [record] = changes(session, "users", user_id, "update")
    assert {k for k in record.after if record.after[k] != record.before.get(k)} == {"organisation_id"}
    response = client.patch(f"/api/v1/users/{user_id}", headers=headers, json={"roles": ["legal"], "active": False})
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert response.get_json()["roles"] == ["legal"]
    assert changes(session, "users", user_id, "disable")
    assert client.patch(f"/api/v1/users/{user_id}", headers=headers, json={"email": "x@y.nl"}).status_code == 400


def test_reset_password(client, session, clock):
    headers = staff_bearer(session, clock, ADMIN)
    created = _create(client, headers).get_json()
    response = client.post(f"/api/v1/users/{created['id']}/reset-password", headers=headers)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = response.get_json()["one_time_password"]
    user = session.get(User, created["id"])
    session.refresh(user)
    assert check_password_hash(user.password_hash, new)
    assert not check_password_hash(user.password_hash, created["one_time_password"])
    assert changes(session, "users", user.id, "reset_password")


def test_the_last_admin_cannot_be_removed(client, session, clock):
    headers = staff_bearer(session, clock, ADMIN)
    me = session.scalar(select(User).where(User.email == ADMIN))
    for body in ({"active": False}, {"roles": ["viewer"]}, {"organisation_id": hospital(session, "Radboudumc").id}):
        response = client.patch(f"/api/v1/users/{me.id}", headers=headers, json=body)
        assert response.status_code == 400, body
        assert "last active administrator" in str(response.get_json()["error"]["fields"])
    session.refresh(me)
    assert me.active and me.roles == ["admin"] and me.organisation_id is None


def test_without_users_manage_403(client, session, clock):
    headers = staff_bearer(session, clock, "inkoop@demo.aifi.nl")
    user = session.scalar(select(User).where(User.email == "lezer@demo.aifi.nl"))
    assert _create(client, headers).status_code == 403
    assert client.patch(f"/api/v1/users/{user.id}", headers=headers, json={"active": False}).status_code == 403
    assert client.post(f"/api/v1/users/{user.id}/reset-password", headers=headers).status_code == 403


def test_a_hospital_admin_manages_only_their_own_people(client, session, clock):
    hospital_admin(session, clock)
    headers = staff_bearer(session, clock, HOSPITAL_ADMIN)
    oost = hospital(session, "Demo Ziekenhuis Oost")
    national = session.scalar(select(User).where(User.email == "lezer@demo.aifi.nl"))
    assert client.patch(f"/api/v1/users/{national.id}", headers=headers, json={"active": False}).status_code == 404
    assert client.post(f"/api/v1/users/{national.id}/reset-password", headers=headers).status_code == 404
    assert _create(client, headers).status_code == 400  # national: beyond their organisation
    created = _create(client, headers, organisation_id=oost.id)
    assert created.status_code == 201
    moved = client.patch(f"/api/v1/users/{created.get_json()['id']}", headers=headers, json={"organisation_id": None})
    assert moved.status_code == 400
    listed = client.get("/api/v1/users?per_page=500", headers=headers).get_json()["items"]
    assert listed and all(u["organisation"] and u["organisation"]["id"] == oost.id for u in listed)
