"""Staff API for organisations: POST, PATCH (only the fields named), suspend, reactivate; the
change records; 403 without organisations:write; a hospital's admin only for their hospital. Also
the gateway admin API's scope check."""

from __future__ import annotations

from sqlalchemy import func, select

from registry.db.changes import ChangeRecord
from registry.db.organisations import Gateway, Organisation
from tests.auth.helpers import staff_bearer
from tests.web.admin_helpers import HOSPITAL_ADMIN, changes, hospital, hospital_admin

ADMIN = "admin@demo.aifi.nl"


def test_create(client, session, clock):
    response = client.post("/api/v1/organisations", headers=staff_bearer(session, clock, ADMIN),
                           json={"kind": "hospital", "name": "Nieuw Ziekenhuis", "ura": "12312312"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["name"], body["ura"], body["country"], body["status"]) == \
        ("hospital", "Nieuw Ziekenhuis", "12312312", "NL", "active")
    [record] = changes(session, "organisations", body["id"], "create")
    assert record.actor.startswith("user:")


def test_malformed_or_invalid_input_is_a_400_that_changes_nothing(client, session, clock):
    headers = staff_bearer(session, clock, ADMIN)
    before = session.scalar(select(func.count()).select_from(Organisation))
    for body in ({"kind": "hospital", "name": "X", "ura": "123"}, {"kind": "club", "name": "X"},
                 {"kind": "vendor", "name": "X", "extra": 1}, {"kind": "vendor", "name": "Radboudumc"}):
        response = client.post("/api/v1/organisations", headers=headers, json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert response.get_json()["error"]["fields"]
    assert session.scalar(select(func.count()).select_from(Organisation)) == before


def test_patch_changes_only_the_fields_named(client, session, clock):
    org = hospital(session, "Demo Ziekenhuis Noord")
    ura, agb = org.ura, org.agb
    response = client.patch(f"/api/v1/organisations/{org.id}", headers=staff_bearer(session, clock, ADMIN),
                            json={"kvk": "44556677"})
    assert response.status_code == 200, response.get_json()
    session.expire_all()
    assert (org.kvk, org.ura, org.agb, org.name) == ("44556677", ura, agb, "Demo Ziekenhuis Noord")
    [record] = changes(session, "organisations", org.id, "update")
    assert {k for k in record.after if record.after[k] != record.before.get(k)} == {"kvk"}
    # null clears an identifier; null for the name is refused
    headers = staff_bearer(session, clock, ADMIN)
    assert client.patch(f"/api/v1/organisations/{org.id}", headers=headers, json={"kvk": None}).status_code == 200
    assert client.patch(f"/api/v1/organisations/{org.id}", headers=headers, json={"name": None}).status_code == 400
    assert client.patch(f"/api/v1/organisations/{org.id}", headers=headers, json={"kind": "vendor"}).status_code == 400
    session.expire_all()
    assert org.kvk is None and org.kind == "hospital"


def test_suspend_and_reactivate(client, session, clock):
    org = hospital(session, "Demo Ziekenhuis Noord")
    headers = staff_bearer(session, clock, ADMIN)
    assert client.post(f"/api/v1/organisations/{org.id}/suspend", headers=headers, json={}).status_code == 400
    response = client.post(f"/api/v1/organisations/{org.id}/suspend", headers=headers, json={"reason": "audit"})
    assert response.status_code == 200 and response.get_json()["status"] == "suspended"
    assert changes(session, "organisations", org.id, "suspend")[0].message == "audit"
    response = client.post(f"/api/v1/organisations/{org.id}/reactivate", headers=headers, json={"reason": "ok"})
    assert response.get_json()["status"] == "active"


def test_without_organisations_write_403(client, session, clock):
    org = hospital(session, "Demo Ziekenhuis Noord")
    headers = staff_bearer(session, clock, "jurist@demo.aifi.nl")
    assert client.post("/api/v1/organisations", headers=headers, json={"kind": "vendor", "name": "X"}).status_code == 403
    assert client.patch(f"/api/v1/organisations/{org.id}", headers=headers, json={"name": "X"}).status_code == 403
    assert client.post(f"/api/v1/organisations/{org.id}/suspend", headers=headers,
                       json={"reason": "x"}).status_code == 403


def test_a_hospital_admin_changes_only_their_own_hospital(client, session, clock):
    hospital_admin(session, clock)
    headers = staff_bearer(session, clock, HOSPITAL_ADMIN)
    own, other = hospital(session, "Demo Ziekenhuis Oost"), hospital(session, "Demo Ziekenhuis Noord")
    count = session.scalar(select(func.count()).select_from(ChangeRecord))
    assert client.patch(f"/api/v1/organisations/{other.id}", headers=headers, json={"name": "X"}).status_code == 404
    assert client.post(f"/api/v1/organisations/{other.id}/suspend", headers=headers,
                       json={"reason": "x"}).status_code == 404
    assert client.post("/api/v1/organisations", headers=headers,
                       json={"kind": "vendor", "name": "Oost BV"}).status_code == 403
    assert session.scalar(select(func.count()).select_from(ChangeRecord)) == count
    assert client.patch(f"/api/v1/organisations/{own.id}", headers=headers,
                        json={"kvk": "99887766"}).status_code == 200


def test_the_gateway_admin_api_keeps_to_the_scope(client, session, clock):
    hospital_admin(session, clock)
    headers = staff_bearer(session, clock, HOSPITAL_ADMIN)
    noord = hospital(session, "Demo Ziekenhuis Noord")
    other = session.scalar(select(Gateway).where(Gateway.hospital_id == noord.id))
    for action in ("rotate", "suspend", "revoke"):
        response = client.post(f"/api/v1/gateways/{other.client_id}/{action}", headers=headers, json={})
        assert response.status_code == 404, action
    response = client.post("/api/v1/gateways", headers=headers, json={"hospital_ura": noord.ura, "name": "x"})
    assert response.status_code == 400
    session.expire_all()
    assert other.status == "active"
    oost = hospital(session, "Demo Ziekenhuis Oost")
    response = client.post("/api/v1/gateways", headers=headers, json={"hospital_ura": oost.ura, "name": "own"})
    assert response.status_code == 201
