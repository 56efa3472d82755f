"""Tools in a real browser: the tool page and its forms pass axe; suspending a version in the UI
turns its column in the routing matrix red and the next API decision is TOOL_SUSPENDED;
reinstating turns it back. The decision explanation passes axe too."""

from __future__ import annotations

import json
import re
import urllib.request

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from registry.auth.tokens import issue_gateway_token
from registry.db.organisations import Gateway, Organisation

ADMIN = "admin@demo.aifi.nl"
OOST = "99000103"  # Demo Ziekenhuis Oost: RBfracture licensed and near its quota


def _decide(live_server, study_key: str) -> dict:  # noqa: ANN001
    """One gateway decision over HTTP on loopback, as Oost's gateway."""
    with sessionmaker(bind=live_server.engine)() as session:
        hospital = session.scalar(select(Organisation).where(Organisation.ura == OOST))
        gateway = session.scalar(select(Gateway).where(Gateway.hospital_id == hospital.id))
        token = issue_gateway_token(session, clock=live_server.clock, gateway=gateway, scope="routing:decide",
                                    ttl=600).access_token
        session.commit()
    body = {"tool": "rbfracture", "purpose": "clinical-care", "dry_run": True,
            "study": {"study_key": study_key, "modality": "DX", "patient_age_years": 45}}
    request = urllib.request.Request(f"{live_server.url}/api/v1/decisions", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def _cell(page):  # noqa: ANN001, ANN202
    page.goto("/")
    return page.locator(f'td[data-hospital="{OOST}"][data-tool="rbfracture"]')


def test_suspending_a_version_in_the_ui_turns_its_column_red(page, login, axe_check, screenshot, live_server):
    login(page, ADMIN)
    expect(_cell(page)).to_have_attribute("data-state", "permit")
    page.goto("/tools/rbfracture")
    expect(page.locator("#version-2\\.4")).to_contain_text("Beoogd gebruik")
    axe_check(page)
    screenshot(page, "tool-nl", full_page=True)
    try:
        page.locator("#version-2\\.4").get_by_role("link", name=re.compile("Opschorten")).click()
        axe_check(page)
        page.get_by_role("button", name="Opschorten").click()  # without a reason: refused
        expect(page.locator(".error-summary")).to_be_visible()
        axe_check(page)
        page.get_by_label("Reden").fill("Field safety notice FSN-2026-14 (test)")
        page.get_by_role("button", name="Opschorten").click()
        expect(page.locator(".flash")).to_contain_text("opgeschort")
        cell = _cell(page)
        expect(cell).to_have_attribute("data-state", "deny")
        expect(cell).to_contain_text("Deze versie van de AI-toepassing is opgeschort.")
        answer = _decide(live_server, "browser-suspended")
        assert answer["decision"] == "deny" and [r["code"] for r in answer["reasons"]] == ["TOOL_SUSPENDED"]
    finally:
        page.goto("/tools/rbfracture/versions/2.4/reinstate")
        page.get_by_label("Reden").fill("Update installed (test)")
        page.get_by_role("button", name="Weer toelaten").click()
    expect(_cell(page)).to_have_attribute("data-state", "permit")
    assert _decide(live_server, "browser-reinstated")["decision"] == "permit"


def test_the_version_form_passes_axe_with_and_without_errors(page, login, axe_check):
    login(page, ADMIN)
    page.goto("/tools/bonexpert/versions/new")
    axe_check(page)
    page.get_by_role("button", name="Opslaan").click()
    expect(page.locator(".error-summary")).to_be_visible()
    axe_check(page)
    page.goto("/tools/bonexpert/versions/3.2/edit")
    expect(page.get_by_label("Jongens/mannen tot en met leeftijd (jaren)")).to_have_value("19")
    axe_check(page)


def test_a_decisions_explanation_passes_axe(page, login, axe_check, screenshot):
    login(page, ADMIN)
    page.goto("/decisions?reason=PATIENT_OBJECTION")
    page.locator('#decisions-table tbody a[href^="/decisions/"]').first.click()
    expect(page.locator("#reasons")).to_contain_text("De patiënt heeft bezwaar gemaakt")
    axe_check(page)
    screenshot(page, "decision-nl", full_page=True)
