"""In a real browser, in Dutch: a clinical owner approves the fictional Demo Ziekenhuis West's
deployment of BoneXpert and its routing-matrix cell turns green; an incident turns it red again.
(This changes West's deployment in the shared browser world; no other browser test relies on it.)"""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.clinical import Deployment
from registry.db.organisations import Organisation

CELL = 'td[data-hospital="99000105"][data-tool="bonexpert"]'


def _west_deployment(live_server) -> int:  # noqa: ANN001
    with Session(live_server.engine) as session:
        west = session.scalar(select(Organisation).where(Organisation.ura == "99000105"))
        return session.scalar(select(Deployment.id).where(Deployment.hospital_id == west.id))


def test_clinical_owner_approves_west_and_an_incident_turns_it_red(page, login, live_server, axe_check, screenshot):
    deployment = _west_deployment(live_server)
    # The radiologist who filled in the checklist completes the local acceptance test.
    login(page, "radioloog@west.demo.aifi.nl")
    page.goto("/")
    expect(page.locator(CELL)).to_have_attribute("data-state", "deny")
    expect(page.locator(CELL)).to_contain_text("niet goedgekeurd voor klinisch gebruik")
    page.goto(f"/deployments/{deployment}")
    expect(page.locator("main")).to_contain_text("lokale acceptatietest")
    page.get_by_role("link", name="Checklist bewerken").click()
    page.get_by_label("Acceptatietest: aantal casussen").fill("150")
    page.get_by_label("Acceptatietest: overeenstemming met radiologen (%)").fill("94")
    page.get_by_label("Acceptatietest: datum").fill("2026-05-20")
    page.get_by_label("Acceptatietest: door wie").fill("Klinisch fysicus")
    axe_check(page)
    page.get_by_role("button", name="Opslaan").click()
    expect(page.locator(".flash")).to_contain_text("De checklist is opgeslagen.")
    # Four eyes: the one who filled it in cannot approve it.
    page.get_by_role("button", name="Ingebruikname goedkeuren").click()
    expect(page.locator(".flash-error")).to_contain_text("een andere klinisch eigenaar")
    page.get_by_role("button", name="Uitloggen").click()

    # The hospital's other clinical owner approves the go-live: the cell turns green.
    login(page, "klinisch@west.demo.aifi.nl")
    page.goto(f"/deployments/{deployment}")
    page.get_by_label("Toelichting (optioneel)").fill("acceptatietest akkoord")
    page.get_by_role("button", name="Ingebruikname goedkeuren").click()
    expect(page.locator(".flash")).to_contain_text("Ingebruikname goedgekeurd")
    axe_check(page)
    screenshot(page, "deployment-approved-nl", full_page=True)
    page.goto("/")
    expect(page.locator(CELL)).to_have_attribute("data-state", "permit")

    # A serious incident that suspends the deployment: red again, and its duties are open.
    page.goto(f"/deployments/{deployment}")
    page.get_by_role("link", name="Incident melden").click()
    page.get_by_label("Soort").select_option(label="ernstig incident")
    page.get_by_label("Ernst (ernstige incidenten)").select_option(label="overlijden of ernstige verslechtering (10 dagen)")
    page.get_by_label("Wat er gebeurde").fill("Botleeftijd fors te hoog ingeschat (fictief)")
    page.get_by_label("Opschorting").select_option(label="de ingebruikname opschorten")
    axe_check(page)
    page.get_by_role("button", name="Melden").click()
    expect(page.locator("#duties")).to_contain_text("vigilantiemelding (MDR art. 87)")
    axe_check(page)
    incident_page = page.url
    page.goto("/")
    expect(page.locator(CELL)).to_have_attribute("data-state", "deny")
    expect(page.locator(CELL)).to_contain_text("niet goedgekeurd voor klinisch gebruik")

    # Every duty recorded, the incident is closed with its conclusion; the suspension stays.
    page.goto(incident_page)
    expect(page.locator("#suspension-note")).to_contain_text("heft de opschorting niet op")
    expect(page.locator("#close-blocked")).to_be_visible()
    while page.locator("#duties form").count():
        form = page.locator("#duties form").first
        form.locator('input[name="told_whom"]').fill("Vigilantieafdeling leverancier")
        form.locator('input[name="told_what"]').fill("Feiten, versie en genomen maatregel")
        form.locator('input[name="told_on"]').fill("2026-06-01")
        form.get_by_role("button", name="Vastleggen").click()
        expect(page.locator(".flash")).to_contain_text("Vastgelegd")
    page.get_by_label("Wat is geconcludeerd").fill("Kalibratiefout gevonden; leverancier heeft een correctie geleverd")
    axe_check(page)
    page.get_by_role("button", name="Incident sluiten").click()
    expect(page.locator(".flash")).to_contain_text("is gesloten")
    expect(page.locator("main")).to_contain_text("Kalibratiefout gevonden")
    expect(page.locator("main")).to_contain_text("Gesloten door")
    expect(page.locator("#close-incident")).to_have_count(0)
    axe_check(page)
    screenshot(page, "incident-closed-nl", full_page=True)
    page.goto("/")
    expect(page.locator(CELL)).to_have_attribute("data-state", "deny")
