"""Admin API for gateways (gateways:manage) and the `registry gateways` commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry.db.changes import ChangeRecord
from registry.db.organisations import Gateway
from tests.auth.helpers import assertion, basic, jwt_form, new_key, public_jwk, staff_bearer

ADMIN = "admin@demo.aifi.nl"
PROCUREMENT = "inkoop@demo.aifi.nl"  # no gateways:manage


def _register(client, session, clock, world, **extra):  # noqa: ANN202
    body = {"hospital_ura": world.hospital.ura, "name": "gw-admin", **extra}
    return client.post("/api/v1/gateways", json=body, headers=staff_bearer(session, clock, ADMIN))


def _basic_token(client, client_id: str, secret: str) -> int:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(client_id, secret)).status_code


def _changes(session, action: str, object_type: str) -> list[ChangeRecord]:
    return list(session.scalars(select(ChangeRecord).where(ChangeRecord.action == action,
                                                           ChangeRecord.object_type == object_type)))


@pytest.mark.parametrize("path", ["/api/v1/gateways", "/api/v1/gateways/gw_x/rotate",
                                  "/api/v1/gateways/gw_x/suspend", "/api/v1/gateways/gw_x/reactivate",
                                  "/api/v1/gateways/gw_x/revoke"])
def test_every_endpoint_needs_gateways_manage(client, session, clock, path):
    assert client.post(path, json={}).status_code == 401
    response = client.post(path, json={}, headers=staff_bearer(session, clock, PROCUREMENT))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "FORBIDDEN"


def test_register_with_a_secret(client, session, clock, world):
    response = _register(client, session, clock, world)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["client_id"].startswith("gw_") and body["client_secret"].startswith("aifi_cs_")
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert response.headers["Cache-Control"] == "no-store"
    assert _basic_token(client, body["client_id"], body["client_secret"]) == 200
    created = [c for c in _changes(session, "create", "gateways") if c.after["client_id"] == body["client_id"]]
    assert len(created) == 1 and created[0].actor.startswith("user:")
    # The secret's hash never reaches the change log.
    creds = _changes(session, "create", "gateway_credentials")
    assert creds and all("secret_hash" not in c.after for c in creds)


def test_register_with_a_public_key(client, session, clock, world):
    key = new_key("ES256")
    response = _register(client, session, clock, world, public_jwk=public_jwk(key))
    assert response.status_code == 201
    body = response.get_json()
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "private_key_jwt"
    value = assertion(body["client_id"], key, clock, "ES256")
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200


@pytest.mark.parametrize("extra, field", [
    ({"public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "AAAA"}}, "jwk"),
    ({"hospital_ura": "00000000"}, "hospital"),
])
def test_register_refuses_bad_input(client, session, clock, world, extra, field):
    if "public_jwk" in extra:
        private = new_key("Ed25519").as_dict(private=True)
        extra = {"public_jwk": private}
    response = _register(client, session, clock, world, **extra)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["fields"]


def test_register_refuses_unknown_fields(client, session, clock, world):
    response = _register(client, session, clock, world, client_secret="chosen-by-caller")
    assert response.status_code == 400


def test_rotate_secret_revokes_the_old_one(client, session, clock, world):
    first = _register(client, session, clock, world).get_json()
    admin = staff_bearer(session, clock, ADMIN)
    response = client.post(f"/api/v1/gateways/{first['client_id']}/rotate", json={}, headers=admin)
    assert response.status_code == 200
    second = response.get_json()
    assert second["client_secret"] != first["client_secret"]
    assert _basic_token(client, first["client_id"], first["client_secret"]) == 401
    assert _basic_token(client, first["client_id"], second["client_secret"]) == 200
    assert _changes(session, "revoke", "gateway_credentials")


def test_rotate_to_a_key(client, session, clock, world):
    first = _register(client, session, clock, world).get_json()
    key = new_key("Ed25519")
    response = client.post(f"/api/v1/gateways/{first['client_id']}/rotate",
                           json={"public_jwk": public_jwk(key)}, headers=staff_bearer(session, clock, ADMIN))
    assert response.status_code == 200 and "client_secret" not in response.get_json()
    assert _basic_token(client, first["client_id"], first["client_secret"]) == 401
    value = assertion(first["client_id"], key, clock)
    assert client.post("/oauth/token", data=jwt_form(value)).status_code == 200


def test_suspend_reactivate_revoke(client, session, clock, world):
    gw = _register(client, session, clock, world).get_json()
    cid, secret = gw["client_id"], gw["client_secret"]
    admin = staff_bearer(session, clock, ADMIN)
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(cid, secret)).get_json()["access_token"]
    gateway_auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/decisions/unknown", headers=gateway_auth).status_code == 404

    r = client.post(f"/api/v1/gateways/{cid}/suspend", json={"reason": "incident 42"}, headers=admin)
    assert r.status_code == 200 and r.get_json() == {"client_id": cid, "status": "suspended"}
    assert client.get("/api/v1/decisions/unknown", headers=gateway_auth).status_code == 401
    assert _basic_token(client, cid, secret) == 401
    suspended = [c for c in _changes(session, "suspend", "gateways") if c.after["client_id"] == cid]
    assert suspended and suspended[0].message == "incident 42"

    assert client.post(f"/api/v1/gateways/{cid}/reactivate", json={}, headers=admin).status_code == 200
    assert _basic_token(client, cid, secret) == 200

    assert client.post(f"/api/v1/gateways/{cid}/revoke", json={}, headers=admin).status_code == 200
    assert _basic_token(client, cid, secret) == 401
    again = client.post(f"/api/v1/gateways/{cid}/reactivate", json={}, headers=admin)
    assert again.status_code == 400
    assert client.post("/api/v1/gateways/gw_nobody/suspend", json={}, headers=admin).status_code == 404


def test_cli_add_rotate_revoke(fresh_engine, tmp_path, clock, monkeypatch):
    from registry.cli import main
    from registry.db.base import make_session_factory
    from registry.db.migrate import upgrade
    from registry.services import organisations
    from tests.factories import SYSTEM

    upgrade(fresh_engine)
    session = make_session_factory(fresh_engine)()
    organisations.create_organisation(session, actor=SYSTEM, clock=clock, kind="hospital",
                                      name="CLI Hospital", ura="12345678")
    session.commit()
    monkeypatch.setenv("REGISTRY_DATABASE_URL", fresh_engine.url.render_as_string(hide_password=False))
    runner = CliRunner()

    added = runner.invoke(main, ["gateways", "add", "--hospital", "12345678", "--name", "gw-cli"])
    assert added.exit_code == 0, added.output
    client_id = json.loads(added.output)["client_id"]
    assert json.loads(added.output)["client_secret"].startswith("aifi_cs_")

    jwk_file = tmp_path / "gw.jwk"
    jwk_file.write_text(json.dumps(public_jwk(new_key("Ed25519"))))
    rotated = runner.invoke(main, ["gateways", "rotate", client_id, "--jwk", str(jwk_file)])
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.output) == {"client_id": client_id,
                                          "token_endpoint_auth_method": "private_key_jwt"}

    revoked = runner.invoke(main, ["gateways", "revoke", client_id])
    assert revoked.exit_code == 0, revoked.output
    refused = runner.invoke(main, ["gateways", "rotate", client_id])
    assert refused.exit_code == 2 and "revoked" in refused.output
    session.expire_all()
    gateway = session.scalar(select(Gateway).where(Gateway.client_id == client_id))
    assert gateway.status == "revoked"
    session.close()
