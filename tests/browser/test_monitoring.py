"""In a real browser, in Dutch and English: the monitoring page of the demo world shows BoneXpert's
flagged age band in words (not only in colour), passes axe and fits a phone; screenshots
monitoring-nl.png and monitoring-en.png."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE


def test_the_monitoring_page_shows_the_flagged_subgroup(page, login, axe_check, no_horizontal_scroll, screenshot):
    login(page, "auditor@demo.aifi.nl")
    page.set_viewport_size(DESKTOP)
    page.goto("/monitoring")
    flagged = page.locator("tr.row-flagged")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("leeftijd: 15–17 jaar")
    expect(flagged).to_contain_text("Gemarkeerd: het hele interval ligt boven de anderen")
    expect(page.locator("svg.chart").first).to_be_visible()
    axe_check(page)
    screenshot(page, "monitoring-nl", full_page=True)
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    page.set_viewport_size(DESKTOP)
    page.goto("/monitoring?lang=en")
    expect(page.locator("tr.row-flagged")).to_contain_text("Flagged: the whole interval lies above the others")
    screenshot(page, "monitoring-en", full_page=True)
