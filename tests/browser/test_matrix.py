"""The routing matrix in a real browser, in Dutch: the demo world's states with their reasons in words,
a deny cell leading to its explanation, a hospital's staff member who sees only their own hospital, and
a name with markup in it shown as text. Screenshots of the dashboard (1366 and 390 px) and a cell's
explanation come from here (the tool page's from test_tool_pages.py)."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from registry.actor import Actor
from registry.db.agreements import DataProcessingAgreement
from registry.db.organisations import Gateway, Organisation
from registry.services.organisations import create_organisation
from tests.browser.conftest import PHONE

ADMIN = "admin@demo.aifi.nl"
OOST_PRIVACY = "privacy@oost.demo.aifi.nl"
TOOLS = ["bonexpert", "cina-ipe", "rbfracture"]
NOORD, ZUID, OOST, VOORBEELDSTAD = "99000101", "99000102", "99000103", "99000104"

# The reasons in words (Dutch), as the demo world should show them on its day.
NOT_SIGNED = "De verwerkersovereenkomst is niet ondertekend."
NOT_IN_FORCE = "De verwerkersovereenkomst is op deze datum niet van kracht."
QUOTA_USED_UP = "Het quotum van de licentie voor deze periode is op."
HOSPITAL_LEFT = "Het ziekenhuis is opgeschort of uit de infrastructuur gestapt."
# (URA, tool) → the reason a deny cell must give; every other cell of these hospitals is permitted.
DENIED = {
    **{(NOORD, tool): NOT_SIGNED for tool in TOOLS},
    **{(ZUID, tool): NOT_IN_FORCE for tool in TOOLS},
    (OOST, "cina-ipe"): QUOTA_USED_UP,
    **{(VOORBEELDSTAD, tool): HOSPITAL_LEFT for tool in TOOLS},
}
PERMITTED_HOSPITALS = ["90000011", "90000022", "90000033", "90000044", "90000055"]  # the five real ones


def _cell(page, ura: str, tool: str):
    return page.locator(f'#matrix td[data-hospital="{ura}"][data-tool="{tool}"]')


def _rgb(page, locator) -> tuple[int, ...]:
    colour = locator.evaluate("el => getComputedStyle(el).backgroundColor")
    return tuple(int(n) for n in re.findall(r"\d+", colour)[:3])


def test_the_matrix_shows_the_demo_worlds_states_and_a_deny_cell_explains_itself(
        live_server, page, login, axe_check, no_horizontal_scroll, screenshot):
    login(page, ADMIN)
    matrix = page.get_by_role("region", name="Routeringsmatrix")
    expect(matrix).to_be_visible()
    headers = page.locator("#matrix thead th").all_inner_texts()
    assert [h.split()[0] for h in headers[1:]] == ["BoneXpert", "CINA-iPE", "RBfracture"], headers

    for ura in PERMITTED_HOSPITALS + [OOST]:
        for tool in TOOLS:
            if (ura, tool) in DENIED:
                continue
            cell = _cell(page, ura, tool)
            expect(cell).to_have_attribute("data-state", "permit")
            expect(cell.locator(".verdict")).to_have_text("toegestaan")
            red, green, blue = _rgb(page, cell)
            assert green > red and green > blue, f"{ura} × {tool} is permitted but not green: {red, green, blue}"
    for (ura, tool), reason in DENIED.items():
        cell = _cell(page, ura, tool)
        expect(cell).to_have_attribute("data-state", "deny")
        expect(cell.locator(".verdict")).to_have_text("geweigerd")
        expect(cell.locator(".reason")).to_have_text([reason])
        red, green, blue = _rgb(page, cell)
        assert red > green and red > blue, f"{ura} × {tool} is denied but not red: {red, green, blue}"
    # Names, not ids: the fictional hospitals are named and marked as such.
    expect(page.locator("#matrix tbody th").filter(has_text="Demo Ziekenhuis Noord")).to_contain_text("fictief (demo)")
    axe_check(page)
    screenshot(page, "dashboard-nl", full_page=True)
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    # The matrix is wider than a phone: it scrolls inside its own box, not the page.
    assert matrix.evaluate("box => box.scrollWidth > box.clientWidth && getComputedStyle(box).overflowX == 'auto'")
    screenshot(page, "dashboard-nl-390", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})

    # A deny cell leads to its explanation, which names the agreement and links to it.
    _cell(page, NOORD, "bonexpert").get_by_role("link", name="geweigerd").click()
    expect(page.locator("h1")).to_have_text("BoneXpert bij Demo Ziekenhuis Noord")
    expect(page.locator("#reasons")).to_contain_text(NOT_SIGNED)
    with live_server.session() as session:
        noord = session.scalar(select(Organisation).where(Organisation.ura == NOORD))
        reference = session.scalar(select(DataProcessingAgreement.reference)
                                   .where(DataProcessingAgreement.controller_id == noord.id))
    agreement = page.locator("dl.fields div").filter(has=page.get_by_text("Verwerkersovereenkomst", exact=True))
    expect(agreement.get_by_role("link", name=reference)).to_be_visible()
    axe_check(page)
    screenshot(page, "matrix-explain-nl")
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    page.set_viewport_size({"width": 1366, "height": 900})
    agreement.get_by_role("link", name=reference).click()
    expect(page.locator("h1")).to_contain_text(reference)


def test_a_hospitals_staff_member_sees_only_their_own_hospital(
        live_server, page, login, axe_check, no_horizontal_scroll):
    with live_server.session() as session:
        orgs = {o.ura: o for o in session.scalars(select(Organisation).where(Organisation.ura.is_not(None)))}
        noord_agreement = session.scalar(select(DataProcessingAgreement.id)
                                         .where(DataProcessingAgreement.controller_id == orgs[NOORD].id))
        noord_gateway = session.scalar(select(Gateway.client_id).where(Gateway.hospital_id == orgs[NOORD].id))
    login(page, OOST_PRIVACY)
    hospitals = page.locator("#matrix tbody th").all_inner_texts()
    assert [" ".join(h.split()) for h in hospitals] == ["Demo Ziekenhuis Oost fictief (demo)"], hospitals
    expect(_cell(page, OOST, "cina-ipe").locator(".reason")).to_have_text([QUOTA_USED_UP])

    # Its own hospital opens; another hospital's pages do not exist for this person.
    assert page.goto(f"/organisations/{orgs[OOST].id}").status == 200
    for path in [f"/organisations/{orgs[NOORD].id}", f"/organisations/{orgs['90000033'].id}",
                 f"/agreements/{noord_agreement}", f"/gateways/{noord_gateway}",
                 f"/matrix/explain?hospital={NOORD}&tool=bonexpert"]:
        response = page.goto(path)
        assert response.status == 404, (path, response.status)
        expect(page.locator("h1")).to_have_text("Pagina niet gevonden")
        expect(page.locator("main")).not_to_contain_text("Demo Ziekenhuis Noord")
    axe_check(page)  # the error page too
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    page.goto("/organisations?kind=hospital")
    expect(page.locator("main table tbody")).to_contain_text("Demo Ziekenhuis Oost")
    expect(page.locator("main table tbody")).not_to_contain_text("Demo Ziekenhuis Noord")
    page.goto("/search?q=Noord")
    expect(page.locator("main")).not_to_contain_text("Demo Ziekenhuis Noord")


SCRIPT_NAME = '<script>window.__injected = true</script><b>Vet</b> Leverancier & "Zonen"'


def test_a_name_with_markup_renders_as_text(live_server, page, login, axe_check):
    # Created through the service in the served database (the UI's organisation form is another
    # helper's): a vendor, so the matrix and the other tests' hospitals stay as they are.
    with live_server.session() as session:
        org = create_organisation(session, actor=Actor.system("browser-tests"), clock=live_server.clock,
                                  kind="vendor", name=SCRIPT_NAME)
        session.commit()
        org_id = org.id
    login(page, ADMIN)
    for path in [f"/organisations/{org_id}", "/organisations?kind=vendor", "/search?q=Leverancier"]:
        page.goto(path)
        expect(page.get_by_text(SCRIPT_NAME, exact=True).first).to_be_visible()
        expect(page.locator("main b")).to_have_count(0)  # no element made from the name
        assert page.evaluate("window.__injected") is None, path
    axe_check(page)
