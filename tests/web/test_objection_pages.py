"""The privacy officer's pages (forms, CSRF, Dutch): register and withdraw an objection, an upload with
line errors that stores nothing, and the audited access lookup."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from registry.client import pseudonym
from registry.db.audit import AuditEntry
from registry.db.consent import PatientObjection
from registry.db.organisations import Organisation
from tests.web.helpers import csrf_token, login

KEY = b"w" * 32


def _csrf(client, path: str) -> str:  # noqa: ANN001
    page = client.get(path)
    assert page.status_code == 200, path
    return csrf_token(page.get_data(as_text=True))


def test_register_and_withdraw_an_objection(client, session):
    login(client, "privacy@oost.demo.aifi.nl")
    oost = session.scalar(select(Organisation.id).where(Organisation.name == "Demo Ziekenhuis Oost"))
    who = pseudonym("WEB-1", KEY)
    bad = client.post("/objections/new", data={"hospital_id": oost, "pseudonym": "123456782", "purposes": ["research"],
                                               "csrf_token": _csrf(client, "/objections/new")})
    assert bad.status_code == 400 and "Er is een probleem" in bad.get_data(as_text=True)
    done = client.post("/objections/new", data={"hospital_id": oost, "pseudonym": who, "purposes": ["research"],
                                                "csrf_token": _csrf(client, "/objections/new")})
    assert done.status_code == 302
    row = session.scalar(select(PatientObjection).where(PatientObjection.pseudonym == who))
    page = client.get(f"/objections/{row.id}").get_data(as_text=True)
    assert "Bezwaar intrekken" in page
    withdrawn = client.post(f"/objections/{row.id}/withdraw", data={"reason": "op verzoek",
                                                                    "csrf_token": csrf_token(page)})
    assert withdrawn.status_code == 302
    session.refresh(row)
    assert row.withdrawn_on is not None and row.withdrawn_reason == "op verzoek"
    assert "Bezwaar intrekken" not in client.get(f"/objections/{row.id}").get_data(as_text=True)


def test_an_upload_with_errors_lists_them_by_line_and_stores_nothing(client, session):
    login(client, "privacy@demo.aifi.nl")
    oost = session.scalar(select(Organisation.id).where(Organisation.name == "Demo Ziekenhuis Oost"))
    before = session.scalar(select(func.count()).select_from(PatientObjection))
    content = f"pseudonym,purpose,recorded_on\n{pseudonym('WEB-2', KEY)},research,\nzz,research,\n".encode()
    response = client.post("/objections/upload", content_type="multipart/form-data", data={
        "hospital_id": oost, "file": (io.BytesIO(content), "bezwaren.csv"),
        "csrf_token": _csrf(client, "/objections/upload")})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Fouten per regel" in html and "er is niets opgeslagen" in html
    assert session.scalar(select(func.count()).select_from(PatientObjection)) == before
    good = f"pseudonym,purpose,recorded_on\n{pseudonym('WEB-2', KEY)},research,\n".encode()
    response = client.post("/objections/upload", content_type="multipart/form-data", data={
        "hospital_id": oost, "file": (io.BytesIO(good), "bezwaren.csv"),
        "csrf_token": _csrf(client, "/objections/upload")})
    assert response.status_code == 200 and "Opgeslagen: 1" in response.get_data(as_text=True)


def test_the_access_lookup_page_is_audited(client, session):
    from registry.demo import DEMO_OBJECTING_PSEUDONYM

    login(client, "privacy@demo.aifi.nl")
    count = select(func.count()).select_from(AuditEntry).where(AuditEntry.event_type == "subject-access")
    before = session.scalar(count)
    page = client.post("/objections/access", data={"pseudonym": DEMO_OBJECTING_PSEUDONYM,
                                                   "csrf_token": _csrf(client, "/objections/access")})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Bezwaar toegepast" in html and "geweigerd" in html
    assert session.scalar(count) == before + 1
    exported = client.post("/objections/access", data={"pseudonym": DEMO_OBJECTING_PSEUDONYM, "export": "csv",
                                                       "csrf_token": _csrf(client, "/objections/access")})
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert "PATIENT_OBJECTION" in exported.get_data(as_text=True)
