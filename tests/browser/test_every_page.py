"""Every GET page of the web UI, in a real browser, logged in as the admin: each one passes axe at
1366 px and has no sideways page scroll at 390 px. The list of pages comes from the URL map
(tests/web/routes.py, the walk the translation and role-matrix tests use), so a new page is checked the
day it is added."""

from __future__ import annotations

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.web.routes import web_pages

ADMIN = "admin@demo.aifi.nl"


def test_every_page_passes_axe_and_fits_a_phone(live_server, page, login, axe_check, no_horizontal_scroll):
    with live_server.session() as session:
        paths = web_pages(live_server.app, session)
    assert len(paths) >= 20, paths  # a walk of nothing proves nothing
    login(page, ADMIN)
    problems: list[str] = []
    for path in paths:
        # axe at the desktop width; the width check at the phone's, on the same page (a resize, not a
        # second load).
        page.set_viewport_size(DESKTOP)
        response = page.goto(path)
        if response is None or response.status != 200:
            problems.append(f"{path}: HTTP {response.status if response else '?'}")
            continue
        try:
            axe_check(page)
        except pytest.fail.Exception as failed:
            problems.append(str(failed))
        page.set_viewport_size(PHONE)
        try:
            no_horizontal_scroll(page)
        except AssertionError as failed:
            problems.append(str(failed).splitlines()[0])
    assert not problems, "\n".join(problems)
