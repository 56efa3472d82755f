"""Gateways in the UI: register (the secret shown once, in the POST's answer, stored hashed),
rotate, suspend, reactivate, revoke, each with its change record; permissions and scope."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from registry.auth.secrets import hash_secret
from registry.db.organisations import Gateway, GatewayCredential
from tests.auth.helpers import new_key, public_jwk
from tests.web.admin_helpers import (HOSPITAL_ADMIN, HOSPITAL_ADMIN_PASSWORD, assert_field_error, changes,
                                     hospital, hospital_admin, post_form)
from tests.web.helpers import login

ADMIN = "admin@demo.aifi.nl"


def _secret(html: str, value_id: str = "client-secret") -> str:
    return html.split(f'id="{value_id}">', 1)[1].split("<", 1)[0].strip()


def _token_status(client, client_id: str, secret: str) -> int:  # noqa: ANN001
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"}).status_code


def _register(client, session, name: str = "PACS router 9"):  # noqa: ANN001, ANN202
    oost = hospital(session, "Demo Ziekenhuis Oost")
    response = post_form(client, "/gateways/new", {"hospital_id": str(oost.id), "name": name,
                                                   "method": "client_secret_basic"})
    gateway = session.scalar(select(Gateway).where(Gateway.name == name))
    return response, gateway


def test_register_shows_the_secret_once_and_stores_its_hash(client, session):
    login(client, ADMIN)
    assert "/gateways/new" in client.get("/gateways?lang=en").get_data(as_text=True)
    response, gateway = _register(client, session)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = _secret(html)
    assert secret.startswith("aifi_cs_") and gateway.client_id in html
    [cred] = session.scalars(select(GatewayCredential).where(GatewayCredential.gateway_id == gateway.id))
    assert cred.secret_hash == hash_secret(secret) and secret not in (cred.secret_hash or "")
    # Never again: not on the gateway's page, not in the (cookie) session, not in a flash.
    assert secret not in client.get(f"/gateways/{gateway.id}").get_data(as_text=True)
    assert secret not in (response.headers.get("Set-Cookie") or "")
    assert _token_status(client, gateway.client_id, secret) == 200
    [record] = changes(session, "gateways", gateway.id, "create")
    assert record.actor.startswith("user:") and record.after["name"] == "PACS router 9"


def test_register_from_the_hospital_page(client, session):
    login(client, ADMIN)
    oost = hospital(session, "Demo Ziekenhuis Oost")
    detail = client.get(f"/organisations/{oost.id}?lang=en").get_data(as_text=True)
    assert f"/gateways/new?hospital={oost.id}" in detail
    form = client.get(f"/gateways/new?hospital={oost.id}").get_data(as_text=True)
    assert f'<option selected value="{oost.id}">' in form or f'value="{oost.id}" selected' in form


def test_register_errors_beside_their_fields(client, session):
    login(client, ADMIN)
    response = post_form(client, "/gateways/new?lang=en", {"hospital_id": "", "name": "", "method": "client_secret_basic"},
                         page="/gateways/new?lang=en")
    assert response.status_code == 400
    assert_field_error(response.get_data(as_text=True), "hospital_id")
    oost = hospital(session, "Demo Ziekenhuis Oost")
    response = post_form(client, "/gateways/new", {"hospital_id": str(oost.id), "name": "Keyed",
                                                   "method": "private_key_jwt", "public_jwk": "{not json"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "{not json" in html  # the value is kept
    assert_field_error(html, "public_jwk")
    assert session.scalar(select(Gateway).where(Gateway.name == "Keyed")) is None


def test_register_with_a_public_key(client, session):
    login(client, ADMIN)
    oost = hospital(session, "Demo Ziekenhuis Oost")
    jwk = public_jwk(new_key("ES256"))
    response = post_form(client, "/gateways/new", {"hospital_id": str(oost.id), "name": "Keyed",
                                                   "method": "private_key_jwt", "public_jwk": json.dumps(jwk)})
    assert response.status_code == 302
    gateway = session.scalar(select(Gateway).where(Gateway.name == "Keyed"))
    [cred] = session.scalars(select(GatewayCredential).where(GatewayCredential.gateway_id == gateway.id))
    assert cred.method == "private_key_jwt" and cred.secret_hash is None


def test_rotate_shows_a_new_secret_once_and_ends_the_old(client, session):
    login(client, ADMIN)
    _, gateway = _register(client, session)
    old = [c.id for c in session.scalars(select(GatewayCredential).where(GatewayCredential.gateway_id == gateway.id))]
    response = post_form(client, f"/gateways/{gateway.id}/rotate", {"method": "client_secret_basic"})
    assert response.status_code == 200
    secret = _secret(response.get_data(as_text=True))
    assert _token_status(client, gateway.client_id, secret) == 200
    session.expire_all()
    assert session.get(GatewayCredential, old[0]).revoked_at is not None
    assert changes(session, "gateway_credentials", old[0], "revoke")
    assert secret not in client.get(f"/gateways/{gateway.id}").get_data(as_text=True)


def test_suspend_reactivate_revoke_with_reasons(client, session):
    login(client, ADMIN)
    _, gateway = _register(client, session)
    detail = client.get(f"/gateways/{gateway.id}?lang=en").get_data(as_text=True)
    assert f"/gateways/{gateway.id}/rotate" in detail and "to=suspended" in detail and "to=revoked" in detail
    assert post_form(client, f"/gateways/{gateway.id}/status?to=suspended", {"reason": "maintenance"}).status_code == 302
    session.expire_all()
    assert gateway.status == "suspended"
    assert changes(session, "gateways", gateway.id, "suspend")[0].message == "maintenance"
    assert post_form(client, f"/gateways/{gateway.id}/status?to=active", {"reason": "done"}).status_code == 302
    missing = post_form(client, f"/gateways/{gateway.id}/status?to=revoked", {"reason": ""})
    assert missing.status_code == 400
    assert_field_error(missing.get_data(as_text=True), "reason")
    assert post_form(client, f"/gateways/{gateway.id}/status?to=revoked", {"reason": "replaced"}).status_code == 302
    session.expire_all()
    assert gateway.status == "revoked" and gateway.revoked_at is not None
    assert [c.message for c in changes(session, "gateways", gateway.id, "revoke")] == ["replaced"]
    # Revoked is final: no actions offered, no rotation.
    assert "/rotate" not in client.get(f"/gateways/{gateway.id}").get_data(as_text=True)
    assert post_form(client, f"/gateways/{gateway.id}/rotate", {"method": "client_secret_basic"}).status_code == 400


def test_without_gateways_manage_403(client, session):
    login(client, "inkoop@demo.aifi.nl")
    gateway = session.scalar(select(Gateway).limit(1))
    assert client.get("/gateways/new").status_code == 403
    assert client.get(f"/gateways/{gateway.id}/rotate").status_code == 403
    assert post_form(client, f"/gateways/{gateway.id}/status", {"reason": "x"}, page="/tokens").status_code == 403


def test_a_hospital_admin_manages_only_their_own_gateways(client, session, clock):
    hospital_admin(session, clock)
    login(client, HOSPITAL_ADMIN, HOSPITAL_ADMIN_PASSWORD)
    oost, noord = hospital(session, "Demo Ziekenhuis Oost"), hospital(session, "Demo Ziekenhuis Noord")
    form = client.get("/gateways/new").get_data(as_text=True)
    assert f'value="{oost.id}"' in form and f'value="{noord.id}"' not in form
    response = post_form(client, "/gateways/new", {"hospital_id": str(noord.id), "name": "Sneaky",
                                                   "method": "client_secret_basic"})
    assert response.status_code == 400
    assert session.scalar(select(Gateway).where(Gateway.name == "Sneaky")) is None
    other = session.scalar(select(Gateway).where(Gateway.hospital_id == noord.id))
    assert client.get(f"/gateways/{other.id}/rotate").status_code == 404
    assert post_form(client, f"/gateways/{other.id}/status?to=revoked", {"reason": "x"},
                     page="/tokens").status_code == 404
    session.expire_all()
    assert other.status == "active"
    response, own = _register(client, session, "Oost router 2")
    assert response.status_code == 200 and own.hospital_id == oost.id
