"""Browser tests: Playwright drives Debian's Chromium against a live registry on loopback.

Fixtures (ask for them by name):

- ``live_server``: the registry served on 127.0.0.1 in a background thread, on a database of its own
  with the demo world seeded at DEMO_NOW and a fixed clock; built once per session. It trusts the
  session's local test CA (``test_ca``, tests/pades.py) for signatures on agreements. ``.url`` is its
  base URL; ``.engine`` and ``.clock`` are there for tests that must look into or move its world.
  Every browser test shares this one world, so a test that changes it must change objects no other
  test relies on (or put them back).
- ``page``: a fresh browser context (no cookies, Dutch browser, 1366 x 900) with ``base_url`` set,
  so ``page.goto("/audit")`` works.
- ``login(page, email)``: log in as a demo user (``registry.demo.DEMO_USERS``) and wait for the page
  that follows.
- ``axe_check(page)``: run axe-core in the page; fails listing every violation, whatever its impact.
- ``no_horizontal_scroll(page)``: fails when the page is wider than its viewport.
- ``screenshot(page, name, full_page=False)``: writes ``docs/screenshots/<name>.png`` (the window,
  or the whole page) when REGISTRY_SCREENSHOTS=1
  (``REGISTRY_SCREENSHOTS=1 make test-browser`` regenerates them); otherwise does nothing, so CI runs
  leave the tree clean.

Chromium comes from Debian (``make test`` installs it when /usr/bin/chromium is missing); Playwright
never downloads a browser of its own. A missing Chromium fails the tests: it never skips them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from registry.clock import FixedClock
from registry.db.base import make_engine
from registry.db.migrate import upgrade
from registry.demo import DEMO_PASSWORD
from registry.settings import Settings
from tests.conftest import DEMO_NOW, is_postgres, new_database

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HERE = Path(__file__).resolve().parent
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every browser test ``browser``; in CI's PostgreSQL leg, deselect them.

    The pages are the same whatever database is behind them, and the SQLite leg runs every browser
    test, so running them a second time on PostgreSQL would only double CI's slowest part. They are
    deselected (reported as such by pytest), never skipped: nothing here can pass by not running."""
    mine = [item for item in items if HERE in Path(str(item.path)).parents]
    for item in mine:
        item.add_marker(pytest.mark.browser)
    if is_postgres() and mine:
        config.hook.pytest_deselected(items=mine)
        items[:] = [item for item in items if item not in mine]


@dataclass
class LiveServer:
    url: str
    app: Flask
    engine: Engine
    clock: FixedClock

    def session(self) -> Session:
        """A session on the served database, for a test that must look into or change its world
        (commit what the server should see)."""
        return sessionmaker(bind=self.engine)()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, policy_engine, test_ca):
    from registry.app import create_app
    from registry.demo import seed_demo

    tmp = tmp_path_factory.mktemp("browser")
    url, drop = new_database(tmp)
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock(DEMO_NOW)
    with sessionmaker(bind=engine)() as session:
        seed_demo(session, clock=clock, engine=policy_engine)
        session.commit()
    # Signatures on uploaded agreements are trusted when they chain to the local test CA.
    settings = Settings(environment="test", database_url=url, signing_key_dir=tmp / "keys",
                        secret_key="browser-test-secret-key-" + "x" * 32, signature_trust_anchors=(test_ca.path,))
    app = create_app(settings, clock=clock, engine=engine)
    # Port 0: the OS picks a free loopback port, so parallel runs never collide.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-registry", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, engine=engine, clock=clock)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    engine.dispose()
    drop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root (CI too), where Chromium's sandbox refuses to start.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        expect.set_options(timeout=10_000)  # as the pages' own timeout below
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="nl-NL",
                                  timezone_id="Europe/Amsterdam")
    # Fail readably instead of hanging: a page of this registry answers well within ten seconds,
    # even on CI's two busy cores.
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login():
    def login(page, email: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(password)
        page.locator("main button[type=submit]").click()
        try:
            page.wait_for_url(lambda url: urlsplit(url).path != "/login")
        except PlaywrightTimeout:
            pytest.fail(f"logging in as {email} failed: {page.locator('.flash').all_inner_texts()}",
                        pytrace=False)
    return login


@pytest.fixture
def axe_check():
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def axe_check(page) -> None:
        # Every impact fails (minor too): the issue asks for pages that pass, and a rule that must
        # be waived should be waived by name in the test that needs it, not by a threshold here.
        results = axe.run(page)
        violations = results.response["violations"]
        if violations:
            lines = [f"{len(violations)} accessibility violation(s) on {page.url}:"]
            for v in violations:
                lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{v['helpUrl']}]")
                lines += [f"    {', '.join(map(str, n['target']))}: {n['html'][:160]}" for n in v["nodes"]]
            pytest.fail("\n".join(lines), pytrace=False)
    return axe_check


@pytest.fixture
def no_horizontal_scroll():
    def no_horizontal_scroll(page) -> None:
        widths = page.evaluate("({scroll: document.documentElement.scrollWidth,"
                               " client: document.documentElement.clientWidth})")
        assert widths["scroll"] <= widths["client"], (
            f"{page.url} scrolls sideways at {page.viewport_size['width']} px: "
            f"the page is {widths['scroll']} px wide, the window {widths['client']} px")
    return no_horizontal_scroll


@pytest.fixture
def screenshot():
    def screenshot(page, name: str, *, full_page: bool = False) -> None:
        if os.environ.get("REGISTRY_SCREENSHOTS") != "1":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
    return screenshot
