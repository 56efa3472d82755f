"""Organisations in the UI: register, edit, suspend and reactivate (never offboard), each with its
change record; GOV.UK errors; permissions and the scope rule."""

from __future__ import annotations

from sqlalchemy import select

from registry.db.organisations import Organisation
from tests.web.admin_helpers import (HOSPITAL_ADMIN, HOSPITAL_ADMIN_PASSWORD, assert_field_error, changes,
                                     hospital, hospital_admin, post_form)
from tests.web.helpers import login

ADMIN = "admin@demo.aifi.nl"


def test_register_an_organisation(client, session):
    login(client, ADMIN)
    assert "/organisations/new" in client.get("/organisations?lang=en").get_data(as_text=True)
    response = post_form(client, "/organisations/new", {"kind": "vendor", "name": "Nieuwe Leverancier BV",
                                                        "kvk": "87654321", "country": "nl"})
    assert response.status_code == 302, response.get_data(as_text=True)
    org = session.scalar(select(Organisation).where(Organisation.name == "Nieuwe Leverancier BV"))
    assert (org.kind, org.kvk, org.country, org.status, org.ura) == ("vendor", "87654321", "NL", "active", None)
    assert response.headers["Location"].endswith(f"/organisations/{org.id}")
    [record] = changes(session, "organisations", org.id, "create")
    assert record.actor.startswith("user:") and record.after["kvk"] == "87654321"


def test_errors_are_shown_beside_their_fields_and_values_kept(client, session):
    login(client, ADMIN)
    taken = hospital(session, "Demo Ziekenhuis Oost").ura
    response = post_form(client, "/organisations/new?lang=en",
                         {"kind": "hospital", "name": " ", "ura": taken, "agb": "12ab", "country": "NLD"},
                         page="/organisations/new?lang=en")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in ("name", "ura", "agb", "country"):
        assert_field_error(html, field)
    assert "Enter exactly 8 digits." in html and "Another organisation is already registered with this." in html
    assert 'value="12ab"' in html and f'value="{taken}"' in html  # values kept
    assert session.scalar(select(Organisation).where(Organisation.agb == "12ab")) is None


def test_errors_in_dutch(client):
    login(client, ADMIN)
    client.get("/?lang=nl")
    html = post_form(client, "/organisations/new", {"kind": "vendor", "name": "X", "kvk": "1"}).get_data(as_text=True)
    assert "Vul precies 8 cijfers in." in html and "Er is een probleem" in html


def test_edit_changes_what_was_changed(client, session):
    login(client, ADMIN)
    org = hospital(session, "Demo Ziekenhuis Noord")
    page = client.get(f"/organisations/{org.id}/edit").get_data(as_text=True)
    assert f'value="{org.ura}"' in page
    response = post_form(client, f"/organisations/{org.id}/edit",
                         {"name": "Demo Ziekenhuis Noord-Holland", "ura": org.ura, "agb": "", "kvk": "11223344",
                          "country": "NL"})
    assert response.status_code == 302
    session.expire_all()
    assert (org.name, org.kvk) == ("Demo Ziekenhuis Noord-Holland", "11223344")
    [record] = changes(session, "organisations", org.id, "update")
    assert record.before["name"] == "Demo Ziekenhuis Noord" and record.after["kvk"] == "11223344"
    assert "Demo Ziekenhuis Noord-Holland" in client.get(f"/organisations/{org.id}").get_data(as_text=True)


def test_suspend_and_reactivate_with_a_reason(client, session):
    login(client, ADMIN)
    org = hospital(session, "Demo Ziekenhuis Noord")
    detail = client.get(f"/organisations/{org.id}?lang=en").get_data(as_text=True)
    # Suspension is a status edit; offboarding is only the procurement workspace's guided action.
    assert f"/organisations/{org.id}/status?to=suspended" in detail
    assert "/status?to=offboarded" not in detail
    path = f"/organisations/{org.id}/status?to=suspended"
    missing = post_form(client, path, {"reason": ""})
    assert missing.status_code == 400
    assert_field_error(missing.get_data(as_text=True), "reason")
    assert post_form(client, path, {"reason": "invoice unpaid"}).status_code == 302
    session.expire_all()
    assert (org.status, org.status_reason) == ("suspended", "invoice unpaid")
    assert changes(session, "organisations", org.id, "suspend")[0].message == "invoice unpaid"
    assert post_form(client, f"/organisations/{org.id}/status?to=active", {"reason": "paid"}).status_code == 302
    session.expire_all()
    assert org.status == "active"
    assert changes(session, "organisations", org.id, "reactivate")


def test_offboarding_is_not_offered_here(client, session):
    login(client, ADMIN)
    org = hospital(session, "Demo Ziekenhuis Noord")
    # Asking for it anyway gets the one move there is (suspend), never an offboarding.
    response = post_form(client, f"/organisations/{org.id}/status?to=offboarded", {"reason": "x"})
    session.expire_all()
    assert response.status_code == 302 and org.status == "suspended"
    gone = session.scalar(select(Organisation).where(Organisation.status == "offboarded"))
    html = client.get(f"/organisations/{gone.id}/status?lang=en").get_data(as_text=True)
    assert "there is nothing to change here" in html and "<textarea" not in html
    assert post_form(client, f"/organisations/{gone.id}/status", {"reason": "back"}).status_code == 400
    session.expire_all()
    assert gone.status == "offboarded"


def test_without_permission_403(client, session):
    login(client, "lezer@demo.aifi.nl")
    org = hospital(session, "Demo Ziekenhuis Noord")
    assert client.get("/organisations/new").status_code == 403
    assert client.get(f"/organisations/{org.id}/edit").status_code == 403
    assert post_form(client, f"/organisations/{org.id}/status", {"reason": "x"}, page="/tokens").status_code == 403
    html = client.get(f"/organisations/{org.id}?lang=en").get_data(as_text=True)
    assert "/edit" not in html and "/status" not in html


def test_a_hospital_admin_changes_only_their_own_hospital(client, session, clock):
    hospital_admin(session, clock)
    login(client, HOSPITAL_ADMIN, HOSPITAL_ADMIN_PASSWORD)
    own, other = hospital(session, "Demo Ziekenhuis Oost"), hospital(session, "Demo Ziekenhuis Noord")
    assert client.get(f"/organisations/{other.id}/edit").status_code == 404
    assert client.get(f"/organisations/{other.id}/status").status_code == 404
    assert post_form(client, f"/organisations/{other.id}/edit", {"name": "Taken"}, page="/tokens").status_code == 404
    session.expire_all()
    assert other.name == "Demo Ziekenhuis Noord"
    assert client.get(f"/organisations/{own.id}/edit").status_code == 200
    # Registering organisations is national staff's work.
    response = post_form(client, "/organisations/new", {"kind": "vendor", "name": "Oost's Own Vendor"})
    assert response.status_code == 403
    assert session.scalar(select(Organisation).where(Organisation.name == "Oost's Own Vendor")) is None
