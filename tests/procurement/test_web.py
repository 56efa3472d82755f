"""The procurement pages, in Dutch: exercise the pilot's extension option, onboard and offboard a
hospital with a preview, create a contract, end a licence early, read the cost allocation."""

from __future__ import annotations

from sqlalchemy import select

from registry.db.contracts import FrameworkContract, Licence
from registry.db.organisations import Organisation
from tests.web.helpers import csrf_token, login


def _fw(session, slug: str) -> FrameworkContract:  # noqa: ANN001
    return session.scalar(select(FrameworkContract).where(FrameworkContract.reference == f"AIFI-FW-{slug}"))


def test_the_procurement_officer_exercises_the_pilots_extension_option_in_dutch(client, session):
    login(client, "inkoop@demo.aifi.nl")
    fw = _fw(session, "BONEXPERT")
    page = client.get(f"/contracts/{fw.id}?lang=nl").get_data(as_text=True)
    assert "Verlengingsopties" in page and "Optie 2 lichten" in page and "gelicht op" in page
    done = client.post(f"/contracts/{fw.id}/extend", data={"option_index": "1", "csrf_token": csrf_token(page)},
                       follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "Verlengingsoptie 2 is gelicht" in html and "2027-12-31" in html
    session.refresh(fw)
    assert str(fw.ends_on) == "2027-12-31"
    lic = session.scalar(select(Licence).where(Licence.reference == "AIFI-LIC-BONEXPERT-011-2025"))
    assert str(lic.ends_on) == "2027-12-31"


def test_the_dashboard_reminds_of_an_extension_options_notice_period_in_dutch(client, session, clock):
    # The pilot contracts run to 2026-12-31 with option 2 left (90 days' notice): from 2026-09-15
    # the decision is due on 2026-10-02, 17 days ahead.
    clock.advance(days=106)
    login(client, "inkoop@demo.aifi.nl")
    html = client.get("/?lang=nl").get_data(as_text=True)
    panel = html.split('id="attention-notices"', 1)[1].split("</div>", 1)[0]
    assert "Verlengingsopties om over te beslissen" in panel
    assert "AIFI-FW-BONEXPERT" in panel and "optie 2 verlengt de looptijd met 12 maanden" in panel
    assert "uiterlijk 2 okt 2026 beslissen" in panel
    assert "binnen 30 dagen" in panel


def test_a_viewer_cannot_exercise_an_option(client, session):
    login(client, "lezer@demo.aifi.nl")
    fw = _fw(session, "BONEXPERT")
    page = client.get(f"/contracts/{fw.id}?lang=nl").get_data(as_text=True)
    assert "lichten</button>" not in page
    refused = client.post(f"/contracts/{fw.id}/extend", data={"option_index": "1", "csrf_token": csrf_token(page)})
    assert refused.status_code == 403


def test_onboarding_with_a_preview_then_offboarding_in_dutch(client, session):
    login(client, "inkoop@demo.aifi.nl")
    fw = _fw(session, "RBFRACTURE")
    page = client.get("/hospitals/onboard?lang=nl").get_data(as_text=True)
    form = {"ura": "90000077", "name": "Aansluitziekenhuis", "contract_ids": [str(fw.id)], "quota_limit": "300",
            "csrf_token": csrf_token(page)}
    preview = client.post("/hospitals/onboard", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "Voorbeeld: wat er verandert" in preview and "ontbreekt nog" in preview
    assert session.scalar(select(Organisation).where(Organisation.ura == "90000077")) is None
    done = client.post("/hospitals/onboard", data={**form, "action": "confirm"}).get_data(as_text=True)
    assert "Aansluitziekenhuis is aangesloten" in done
    org = session.scalar(select(Organisation).where(Organisation.ura == "90000077"))
    page = client.get(f"/organisations/{org.id}/offboard?lang=nl").get_data(as_text=True)
    form = {"reason": "test", "csrf_token": csrf_token(page)}
    preview = client.post(f"/organisations/{org.id}/offboard", data={**form, "action": "preview"})
    assert "Licenties beëindigd na" in preview.get_data(as_text=True)
    client.post(f"/organisations/{org.id}/offboard", data={**form, "action": "confirm"})
    session.refresh(org)
    assert org.status == "offboarded"


def test_contract_form_keeps_values_and_shows_errors_at_their_fields(client, session):
    login(client, "inkoop@demo.aifi.nl")
    page = client.get("/contracts/new?lang=nl").get_data(as_text=True)
    vendor = session.scalar(select(Organisation).where(Organisation.name == "Visiana"))
    form = {"reference": "FW-WEB-1", "title": "Via het web", "vendor_id": str(vendor.id), "starts_on": "2027-01-01",
            "ends_on": "2026-12-31", "tool_id": str(session.scalar(select(Licence.tool_id).where(Licence.reference.like("AIFI-LIC-BONEXPERT-%")))), "unit_price": "4.50",
            "split_rule": "equal", "vat": "21", "csrf_token": csrf_token(page)}
    bad = client.post("/contracts/new", data=form)
    assert bad.status_code == 400 and "Via het web" in bad.get_data(as_text=True)
    assert "before it starts" in bad.get_data(as_text=True)
    ok = client.post("/contracts/new", data={**form, "ends_on": "2027-12-31"})
    assert ok.status_code == 302
    created = session.scalar(select(FrameworkContract).where(FrameworkContract.reference == "FW-WEB-1"))
    assert created.vat_bp == 2100


def test_ending_a_licence_early_from_its_page(client, session):
    login(client, "inkoop@demo.aifi.nl")
    lic = session.scalar(select(Licence).where(Licence.reference == "AIFI-LIC-CINA-IPE-022-2025"))
    page = client.get(f"/licences/{lic.id}/edit?lang=nl").get_data(as_text=True)
    form = {"starts_on": str(lic.starts_on), "ends_on": "2026-06-30", "quota_limit": str(lic.quota_limit),
            "quota_period": lic.quota_period, "on_quota_exhausted": lic.on_quota_exhausted,
            "csrf_token": csrf_token(page)}
    assert client.post(f"/licences/{lic.id}/edit", data=form).status_code == 302
    session.refresh(lic)
    assert str(lic.ends_on) == "2026-06-30"
    history = client.get(f"/licences/{lic.id}?lang=nl").get_data(as_text=True)
    assert "vervroegd beëindigd" in history


def test_the_allocation_page_in_dutch(client, session):
    login(client, "inkoop@demo.aifi.nl")
    fw = _fw(session, "CINA-IPE")
    html = client.get(f"/contracts/{fw.id}/allocation?period=2025-Q3&lang=nl").get_data(as_text=True)
    assert "Kostenverdeling" in html and "Catharina Ziekenhuis" in html and "Totaal" in html
    assert client.get(f"/contracts/{fw.id}/allocation?period=2025-Q9").status_code == 400


def test_a_licence_page_shows_its_burn_down_forecast_and_alert(client, session):
    login(client, "inkoop@demo.aifi.nl")
    near = session.scalar(select(Licence).where(Licence.reference == "AIFI-LIC-RBFRACTURE-103-2025"))
    html = client.get(f"/licences/{near.id}?lang=nl").get_data(as_text=True)
    assert "80% of meer van het quotum is verbruikt" in html and "97 van 100 onderzoeken" in html
    assert "<svg" in html and "Gebruik per maand" in html
    busy = session.scalar(select(Licence).where(Licence.reference == "AIFI-LIC-BONEXPERT-033-2025"))
    html = client.get(f"/licences/{busy.id}?lang=nl").get_data(as_text=True)
    assert "2025-07" in html  # the pilot's months


def test_reconciliation_by_hospital_name_and_reference_with_idle_licences(client, session):
    login(client, "inkoop@demo.aifi.nl")
    html = client.get("/usage/reconciliation?period_start=2025-01-01&lang=nl").get_data(as_text=True)
    assert "Catharina Ziekenhuis" in html and "AIFI-LIC-BONEXPERT-011-2025" in html
    # Noord never used its call-offs in the pilot year: still listed, with zeros.
    assert "AIFI-LIC-BONEXPERT-101-2025" in html
    assert client.get("/usage/reconciliation?period_start=June").status_code == 400


def test_a_refused_licence_form_says_why_in_dutch(client, session):
    """The service's refusal (a reference taken) is shown beside the field in the page's language."""
    login(client, "inkoop@demo.aifi.nl")
    taken = session.scalar(select(Licence).where(Licence.reference == "AIFI-LIC-BONEXPERT-011-2025"))
    page = client.get(f"/licences/new?contract={taken.contract_id}&lang=nl").get_data(as_text=True)
    refused = client.post("/licences/new?lang=nl", data={
        "csrf_token": csrf_token(page), "reference": taken.reference, "contract_id": str(taken.contract_id),
        "hospital_id": str(taken.hospital_id), "tool_id": str(taken.tool_id),
        "starts_on": str(taken.starts_on), "ends_on": str(taken.ends_on), "quota_limit": "",
        "quota_period": "term", "on_quota_exhausted": "deny"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "er bestaat al een licentie met deze referentie" in html
    assert "a licence with this reference already exists" not in html
