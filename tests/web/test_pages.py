"""The workspace's pages: who sees what, the matrix and its explanations, errors, headers, escaping."""

from __future__ import annotations

from sqlalchemy import select

from registry.db.organisations import Organisation
from registry.services import organisations
from tests.factories import SYSTEM
from tests.web.helpers import ALL_DEMO_USERS, login


def _org(session, name: str) -> Organisation:  # noqa: ANN001
    return session.scalar(select(Organisation).where(Organisation.name == name))


def test_each_demo_user_lands_on_the_dashboard_with_their_work(client):
    for email in ALL_DEMO_USERS:
        client.get("/?lang=en")
        login(client, email)
        html = client.get("/").get_data(as_text=True)
        assert 'id="your-work"' in html and email in html, email
        client.post("/logout", data={})
        client.delete_cookie("session")


def test_a_hospitals_user_sees_only_their_own_hospital(client, session):
    login(client, "privacy@oost.demo.aifi.nl")
    oost, noord = _org(session, "Demo Ziekenhuis Oost"), _org(session, "Demo Ziekenhuis Noord")
    assert client.get(f"/organisations/{oost.id}").status_code == 200
    assert client.get(f"/organisations/{noord.id}").status_code == 404
    listing = client.get("/organisations?lang=en").get_data(as_text=True)
    assert "Demo Ziekenhuis Oost" in listing and "Demo Ziekenhuis Noord" not in listing
    licences = client.get("/licences?lang=en").get_data(as_text=True)
    assert "-103-" in licences and "-101-" not in licences
    matrix = client.get("/?lang=en").get_data(as_text=True)
    assert 'data-hospital="99000103"' in matrix and 'data-hospital="99000101"' not in matrix
    assert client.get("/matrix/explain?hospital=99000101&tool=bonexpert").status_code == 404
    search = client.get("/search?q=Noord&lang=en").get_data(as_text=True)
    assert "Demo Ziekenhuis Noord" not in search
    csv = client.get("/organisations/export.csv").get_data(as_text=True)
    assert "Demo Ziekenhuis Oost" in csv and "Noord" not in csv
    audit = client.get("/audit?lang=en").get_data(as_text=True)
    assert "Demo Ziekenhuis Noord" not in audit


def test_a_page_needing_another_role_says_which(client):
    login(client, "lezer@demo.aifi.nl")
    response = client.get("/users?lang=nl")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "beheerder" in html and "Terug naar het dashboard" in html


def test_not_found_page_is_styled_and_translated(client):
    login(client, "admin@demo.aifi.nl")
    response = client.get("/organisations/999999?lang=en")
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)
    assert client.get("/nowhere?lang=nl").get_data(as_text=True).count("Pagina niet gevonden") == 1


def test_matrix_cells_explain_themselves(client):
    login(client, "jurist@demo.aifi.nl")
    html = client.get("/?lang=en&on=2026-06-01").get_data(as_text=True)
    assert 'data-hospital="99000101" data-tool="bonexpert" data-state="deny"' in html
    assert 'data-hospital="90000033" data-tool="bonexpert" data-state="permit"' in html
    explain = client.get("/matrix/explain?hospital=99000101&tool=bonexpert&on=2026-06-01&lang=en")
    text = explain.get_data(as_text=True)
    assert "The data-processing agreement is not signed." in text and "AGREEMENT_NOT_SIGNED" in text
    assert "/agreements/" in text and "/licences/" in text and "check.agreement-signed" in text


def test_a_hospital_without_a_licence_is_not_contracted_not_denied(client, session, clock):
    org = organisations.create_organisation(session, actor=SYSTEM, clock=clock, kind="hospital",
                                            name="Nieuw Ziekenhuis", ura="88000001")
    session.commit()
    login(client, "admin@demo.aifi.nl")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert f'data-hospital="{org.ura}" data-tool="bonexpert" data-state="not_contracted"' in html


def test_a_name_with_markup_is_shown_as_text(client, session, clock):
    organisations.create_organisation(session, actor=SYSTEM, clock=clock, kind="vendor",
                                      name="<script>alert(1)</script> BV")
    session.commit()
    login(client, "admin@demo.aifi.nl")
    html = client.get("/organisations?q=alert").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; BV" in html


def test_security_headers(client):
    public = client.get("/")
    csp = public.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert public.headers["X-Content-Type-Options"] == "nosniff" and public.headers["Referrer-Policy"]
    login(client, "auditor@demo.aifi.nl")
    assert client.get("/audit").headers["Cache-Control"] == "no-store"
    assert client.get("/decisions").headers["Cache-Control"] == "no-store"


def test_no_inline_styles_or_scripts_in_templates():
    import pathlib
    import re

    for path in pathlib.Path("templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"\sstyle=|<style|<script|\son[a-z]+=", text), path


def test_lists_filter_sort_paginate_and_export(client):
    login(client, "admin@demo.aifi.nl")
    html = client.get("/organisations?kind=hospital&sort=-name&per_page=2&lang=en").get_data(as_text=True)
    assert "results" in html and 'rel="next"' in html and 'aria-sort="descending"' in html
    bad = client.get("/organisations?sort=password_hash")
    assert bad.status_code == 400
    csv = client.get("/decisions/export.csv?outcome=deny&reason=AGREEMENT_NOT_SIGNED&lang=en")
    assert csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("When,Hospital,Tool") and len(lines) > 1


def test_language_switch_keeps_the_page_and_its_filters(client):
    login(client, "admin@demo.aifi.nl")
    html = client.get("/organisations?kind=hospital&lang=en").get_data(as_text=True)
    assert 'href="/organisations?kind=hospital&amp;lang=nl"' in html


def test_the_history_names_changed_fields_in_words(client, session, clock):
    """A change record lists what changed as the page's own words, in Dutch too — never the
    column names (status_reason)."""
    org = _org(session, "Demo Ziekenhuis Oost")
    organisations.set_organisation_status(session, actor=SYSTEM, clock=clock, organisation_id=org.id,
                                          status="suspended", reason="audit finding")
    session.commit()
    login(client, "admin@demo.aifi.nl")
    html = client.get(f"/organisations/{org.id}?lang=nl").get_data(as_text=True)
    history = html.split("Geschiedenis", 1)[1].split("</table>", 1)[0]
    assert "<td>Reden, Status</td>" in history
    assert "status_reason" not in history
