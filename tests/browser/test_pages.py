"""The shell in a real browser, in Dutch: every demo user logs in and lands on the dashboard with the
work of their role; the public overview in both languages; the login page; the audit viewer. axe runs
on each page, and each page fits a 390 px phone without sideways scrolling."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from registry.demo import DEMO_ORG_USERS, DEMO_USERS
from tests.browser.conftest import PHONE

AUDITOR = "auditor@demo.aifi.nl"

# What the dashboard says to each role, in Dutch: the role's name in the header and its line under
# "Uw werk" (templates/dashboard/_your_work.html).
ROLE_TEXTS = {
    "admin": ("beheerder", "Beheer: gebruikers, gateways en organisaties beheren."),
    "procurement": ("inkoper", "Inkoop: raamovereenkomsten, afroeplicenties en quota."),
    "legal": ("jurist", "Juridische beoordeling: verwerkersovereenkomsten die op u wachten."),
    "auditor": ("auditor", "Audit: het auditlog en de besluiten erachter."),
    "privacy_officer": ("privacyfunctionaris", "Privacy: bezwaren van patiënten en wie wat heeft ingezien."),
    "viewer": ("lezer", "Lezer: de routeringsmatrix en de afspraken erachter."),
}
EVERY_DEMO_USER = DEMO_USERS + [(email, role) for email, role, _ in DEMO_ORG_USERS]
AUDIT_ROLES = {"admin", "auditor", "privacy_officer"}


@pytest.mark.parametrize(("email", "role"), EVERY_DEMO_USER, ids=[email for email, _ in EVERY_DEMO_USER])
def test_each_demo_user_lands_on_the_dashboard_with_the_work_of_their_role(
        page, login, axe_check, no_horizontal_scroll, email, role):
    login(page, email)
    assert urlsplit(page.url).path == "/"
    expect(page.locator("h1")).to_have_text("Dashboard")
    role_name, work = ROLE_TEXTS[role]
    expect(page.locator("header .who")).to_contain_text(f"{email} · {role_name}")
    your_work = page.locator("#your-work")
    expect(your_work.get_by_role("heading", name="Uw werk")).to_be_visible()
    expect(your_work).to_contain_text(work)
    # The other roles' lines are not shown: the page is this person's.
    for other, (_, line) in ROLE_TEXTS.items():
        if other != role:
            expect(your_work).not_to_contain_text(line)
    expect(page.get_by_role("region", name="Routeringsmatrix")).to_be_visible()
    expect(page.get_by_role("button", name="Uitloggen")).to_be_visible()
    # The navigation offers the audit trail only to the roles that may read it.
    nav = page.get_by_role("navigation", name="Hoofdnavigatie")
    expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Auditlog")).to_have_count(1 if role in AUDIT_ROLES else 0)
    axe_check(page)
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)


@pytest.mark.parametrize(("lang", "texts"), [
    ("nl", ["Deelnemende ziekenhuizen", "AI-toepassingen", "Leverancier", "uitgestapt", "fictief (demo)",
            "Inloggen"]),
    ("en", ["Participating hospitals", "AI tools", "Vendor", "offboarded", "fictional (demo)", "Log in"]),
])
def test_the_anonymous_page_shows_only_the_public_lists_in_each_language(
        page, axe_check, no_horizontal_scroll, lang, texts):
    page.goto(f"/?lang={lang}")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    hospitals = page.locator("#hospitals tbody tr")
    expect(hospitals.filter(has_text="Catharina Ziekenhuis")).to_have_count(1)
    expect(hospitals.filter(has_text="Ziekenhuis Voorbeeldstad")).to_contain_text(texts[3])
    expect(page.locator("#tools tbody tr").filter(has_text="RBfracture")).to_contain_text("2.3-demo")
    for text in texts:
        expect(page.get_by_text(text, exact=True).first).to_be_visible()
    # No more than the public lists: no matrix, no navigation, no search.
    expect(page.locator("#matrix")).to_have_count(0)
    expect(page.locator("nav.main-nav")).to_have_count(0)
    expect(page.get_by_role("search")).to_have_count(0)
    axe_check(page)
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)


def test_language_choice_sticks_for_the_session(page):
    page.goto("/?lang=en")
    page.goto("/login")
    expect(page.locator("h1")).to_have_text("Log in")


def test_login_page(page, axe_check, no_horizontal_scroll):
    page.goto("/login")
    expect(page.get_by_label("E-mailadres")).to_be_visible()
    expect(page.get_by_label("Wachtwoord")).to_be_visible()
    axe_check(page)
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)


def test_wrong_password_keeps_you_on_the_login_page_with_a_message(page, axe_check):
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(AUDITOR)
    page.get_by_label("Wachtwoord").fill("not-the-password")
    page.locator("main").get_by_role("button", name="Inloggen").click()
    expect(page.locator(".flash-error")).to_have_text("Onbekend e-mailadres of onjuist wachtwoord.")
    expect(page.get_by_role("button", name="Uitloggen")).to_have_count(0)
    axe_check(page)


def test_auditor_opens_the_audit_trail_from_the_navigation_and_filters_it(page, login):
    login(page, AUDITOR)
    page.get_by_role("navigation", name="Hoofdnavigatie").get_by_role("link", name="Auditlog").click()
    expect(page.locator("h1")).to_have_text("Auditlog")
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() > 10  # the demo seed wrote its whole world through the audited services
    # (axe runs on this page in test_every_page.py: once is enough for its hundred rows)
    page.get_by_label("Actie").select_option("C")
    page.get_by_role("button", name="Filteren").click()
    expect(page).to_have_url(re.compile(r"[?&]action=C(&|$)"))
    events = page.locator("table.audit tbody tr td:nth-child(2)").all_inner_texts()
    assert events and all("(aanmaken)" in event for event in events), events


# The helpers themselves must be able to fail, or every test above could pass by checking nothing.

def test_axe_check_fails_on_an_inaccessible_page(page, axe_check):
    page.set_content('<html><body><img src="x.png"><input type="text"></body></html>')
    with pytest.raises(pytest.fail.Exception) as failed:
        axe_check(page)
    assert "image-alt" in str(failed.value) and "html-has-lang" in str(failed.value)


def test_no_horizontal_scroll_fails_on_a_wide_page(page, no_horizontal_scroll):
    page.set_viewport_size(PHONE)
    page.set_content('<html lang="en"><body><div style="width: 800px">wide</div></body></html>')
    with pytest.raises(AssertionError, match="scrolls sideways at 390 px"):
        no_horizontal_scroll(page)
