"""The legal workspace in a real browser, in Dutch: the legal reviewer approves Demo Ziekenhuis Noord's
agreement (drafted by someone else: the demo seed), both parties sign the generated PDF in their own
tools (here: certificates of the local test CA the live server trusts) and the signed copies are
uploaded through the page; the second upload makes the agreement signed, and Noord's cells of the
routing matrix turn green. With REGISTRY_SCREENSHOTS=1 the agreement page is saved to docs/."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from registry.actor import Actor
from registry.db.agreements import DataProcessingAgreement
from registry.db.organisations import Organisation
from registry.permissions import Permission
from registry.services._rows import update_row
from tests.pades import sign_as, sign_pdf

JURIST = "jurist@demo.aifi.nl"
NOORD = "99000101"
TOOLS = ["bonexpert", "cina-ipe", "rbfracture"]


def _noord_agreement(live_server) -> tuple[int, dict]:
    with live_server.session() as session:
        noord = session.scalar(select(Organisation).where(Organisation.ura == NOORD))
        dpa = session.scalar(select(DataProcessingAgreement).where(DataProcessingAgreement.controller_id == noord.id))
        return dpa.id, {k: getattr(dpa, k) for k in ("status", "status_reason", "approved_by",
                                                     "approved_terms_hash", "signed_on")}


def _upload(page, agreement_id: int, name: str, content: bytes) -> None:
    page.goto(f"/agreements/{agreement_id}")
    page.get_by_role("link", name="Ondertekend exemplaar uploaden").click()
    expect(page.locator("h1")).to_have_text("Ondertekend exemplaar uploaden")
    page.get_by_label("Ondertekende pdf").set_input_files({"name": name, "mimeType": "application/pdf",
                                                           "buffer": content})
    page.locator("main form").get_by_role("button", name="Uploaden").click()
    expect(page.locator("#signatures")).to_be_visible()


def test_the_legal_reviewer_approves_noord_both_parties_sign_and_the_matrix_turns_green(
        live_server, page, login, axe_check, screenshot, test_ca):
    agreement_id, before = _noord_agreement(live_server)
    assert before["status"] == "in_review"
    login(page, JURIST)
    try:
        for tool in TOOLS:
            expect(page.locator(f'#matrix td[data-hospital="{NOORD}"][data-tool="{tool}"]')).to_have_attribute(
                "data-state", "deny")
        page.goto("/agreements")
        page.get_by_role("link", name=f"VWO-{NOORD}-1").click()
        expect(page.locator("#checklist")).not_to_contain_text("ontbreekt")
        page.locator("#agreement-actions").get_by_role("link", name="Goedkeuren").click()
        page.get_by_label("Toelichting of reden").fill("Compleet volgens art. 28 lid 3; beveiligingsbijlage gecontroleerd.")
        page.locator("main form").get_by_role("button", name="Bevestigen").click()
        expect(page.locator("main")).to_contain_text("goedgekeurd")

        # Each party signs the generated PDF with its own certificate: the hospital's names it by
        # name, the platform operator's by its KvK number (organizationIdentifier NTRNL-…).
        pdf = page.request.get(f"/agreements/{agreement_id}/document.pdf").body()
        assert pdf.startswith(b"%PDF-")
        with live_server.session() as session:
            dpa = session.get(DataProcessingAgreement, agreement_id)
            by_hospital = sign_as(test_ca, session, dpa, pdf, "controller")
        both = sign_pdf(by_hospital, test_ca.issue(
            "Alphatron Zorgverbinders B.V.", person="P. Verwerker", organisation_identifier="NTRNL-17999001"))

        _upload(page, agreement_id, "VWO-noord-ziekenhuis.pdf", by_hospital)
        signatures = page.locator("#signatures")
        expect(signatures).to_contain_text("nog niet ondertekend")  # the processor has not signed yet
        expect(page.locator("main")).to_contain_text("goedgekeurd")

        _upload(page, agreement_id, "VWO-noord-beide-partijen.pdf", both)
        expect(signatures.locator("tbody tr")).to_have_count(3)
        expect(signatures).not_to_contain_text("nog niet ondertekend")
        expect(signatures).to_contain_text("P. Verwerker")
        expect(signatures.get_by_text("geldig", exact=True)).to_have_count(3)
        expect(page.locator("main")).to_contain_text("van kracht")
        axe_check(page)
        page.locator("#signatures").scroll_into_view_if_needed()
        screenshot(page, "agreement-signed-nl")

        page.goto("/")
        for tool in TOOLS:
            cell = page.locator(f'#matrix td[data-hospital="{NOORD}"][data-tool="{tool}"]')
            expect(cell).to_have_attribute("data-state", "permit")
            expect(cell.locator(".verdict")).to_have_text("toegestaan")
    finally:
        # Put the world back for the tests after this one on the shared server (the matrix test
        # expects Noord's agreement in review), through update_row so the terms revision moves.
        with live_server.session() as session:
            dpa = session.get(DataProcessingAgreement, agreement_id)
            update_row(session, actor=Actor.system("browser-tests"), clock=live_server.clock,
                       permission=Permission.AGREEMENTS_WRITE, row=dpa, changes=before,
                       message="browser test done: back in review")
            session.commit()

