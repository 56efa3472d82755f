"""The procurement officer in a real browser, in Dutch: exercises the pilot's extension option and
onboards a hospital with a preview; axe on each page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

BUYER = "inkoop@demo.aifi.nl"


def test_the_procurement_officer_exercises_the_pilots_extension_option(page, login, axe_check, screenshot):
    login(page, BUYER)
    page.goto("/contracts?lang=nl")
    page.get_by_role("link", name="AIFI-FW-RBFRACTURE").click()
    expect(page.get_by_role("heading", name="Verlengingsopties")).to_be_visible()
    options = page.locator("section.extensions li")
    expect(options.nth(0)).to_contain_text("Optie 1: 12 maanden")
    expect(options.nth(0)).to_contain_text("gelicht op")
    expect(options.nth(1)).to_contain_text("niet gelicht")
    axe_check(page)
    screenshot(page, "contract-extension-options-nl", full_page=True)
    page.get_by_role("button", name="Optie 2 lichten").click()
    expect(page.locator(".flash")).to_contain_text("Verlengingsoptie 2 is gelicht")
    expect(page.get_by_role("button", name="Optie 2 lichten")).to_have_count(0)
    expect(page.locator("dl.fields").first).to_contain_text("31 dec 2027")


def test_the_procurement_officer_onboards_a_hospital_with_a_preview(page, login, axe_check, screenshot):
    login(page, BUYER)
    page.goto("/hospitals/onboard?lang=nl")
    expect(page.get_by_role("heading", name="Ziekenhuis aansluiten")).to_be_visible()
    axe_check(page)
    page.get_by_label("URA").fill("90000088")
    page.get_by_label("Naam").fill("Browserziekenhuis")
    page.get_by_label(re.compile("AIFI-FW-BONEXPERT")).check()
    page.get_by_label("Quotum per jaar (onderzoeken)").fill("250")
    page.get_by_role("button", name="Voorbeeld").click()
    expect(page.get_by_role("heading", name="Voorbeeld: wat er verandert")).to_be_visible()
    expect(page.locator(".checklist")).to_contain_text("ontbreekt nog")
    axe_check(page)
    screenshot(page, "onboarding-preview-nl", full_page=True)
    page.get_by_role("button", name="Aansluiten", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Browserziekenhuis is aangesloten")
