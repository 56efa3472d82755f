"""The demo world (idempotent), the minimal page, settings and the CLI scripts rely on."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from registry.cli import main
from registry.clock import FixedClock
from registry.db import metadata
from registry.db.migrate import upgrade
from registry.demo import PILOT_HOSPITALS, TOOLS, seed_demo
from registry.settings import Settings
from tests.conftest import DEMO_NOW


def _counts(engine):
    with engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(table)).scalar()
                for name, table in metadata.tables.items()}


def test_demo_seeding_twice_changes_nothing(fresh_engine, policy_engine):
    upgrade(fresh_engine)
    sessions = sessionmaker(bind=fresh_engine)
    with sessions() as s:
        assert seed_demo(s, clock=FixedClock(DEMO_NOW), engine=policy_engine).created
        s.commit()
    first = _counts(fresh_engine)
    assert first["organisations"] > 0 and first["decisions"] > 0
    with sessions() as s:
        assert not seed_demo(s, clock=FixedClock(DEMO_NOW), engine=policy_engine).created
        s.commit()
    assert _counts(fresh_engine) == first


def test_index_lists_the_pilot_hospitals_and_tools(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    for name, *_ in PILOT_HOSPITALS:
        assert name in page
    for spec in TOOLS.values():
        assert spec["name"] in page
    assert "offboarded" in page and "fictional (demo)" in page
    dutch = client.get("/?lang=nl").get_data(as_text=True)
    assert "Ziekenhuizen" in dutch and "uitgestapt" in dutch


def test_login_form_needs_csrf_and_the_right_password(app):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    assert client.post("/login", data={"email": "admin@demo.aifi.nl", "password": "aifi-demo-2026"}).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    wrong = client.post("/login", data={"email": "admin@demo.aifi.nl", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 400
    ok = client.post("/login", data={"email": "admin@demo.aifi.nl", "password": "aifi-demo-2026",
                                     "csrf_token": token})
    assert ok.status_code == 302
    assert "admin@demo.aifi.nl" in client.get("/").get_data(as_text=True)


def test_default_secrets_are_refused_outside_development():
    Settings(environment="development")
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", database_url="postgresql+psycopg://x/y")
    Settings(environment="production", secret_key="s" * 40, database_url="postgresql+psycopg://x/y")


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("REGISTRY_TIMEZONE", "Europe/Amsterdam")
    assert Settings().database_url == "sqlite:///elsewhere.db"
    monkeypatch.setenv("REGISTRY_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ValidationError):
        Settings()


@pytest.fixture
def cli_env(fresh_engine, monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", fresh_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("REGISTRY_SIGNING_KEY_DIR", str(tmp_path / "keys"))
    return CliRunner()


def test_cli_demo_orgs_users_gateways(cli_env):
    runner = cli_env
    result = runner.invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert "demo world created" in result.output
    again = runner.invoke(main, ["demo"])
    assert "nothing changed" in again.output

    listed = runner.invoke(main, ["orgs", "list", "--kind", "hospital", "--json"])
    assert listed.exit_code == 0
    hospitals = json.loads(listed.output)
    # The summary counts every hospital (the clinical seed's West too) and names every login.
    assert f"demo world created: {len(hospitals)} hospitals," in result.output
    for email in ("admin@demo.aifi.nl", "radioloog@west.demo.aifi.nl", "klinisch@west.demo.aifi.nl",
                  "klinisch@oost.demo.aifi.nl"):
        assert email in result.output and email in again.output
    assert {h["name"] for h in hospitals} >= {n for n, *_ in PILOT_HOSPITALS}
    assert all(set(h) >= {"kind", "name", "ura", "agb", "kvk", "status"} for h in hospitals)
    assert {h["status"] for h in hospitals} == {"active", "offboarded"}

    made = runner.invoke(main, ["users", "create", "--email", "new@example.org", "--role", "auditor"])
    assert made.exit_code == 0 and "password (shown once)" in made.output
    bad = runner.invoke(main, ["users", "create", "--email", "x@example.org", "--role", "wizard"])
    assert bad.exit_code == 2 and "unknown or missing role" in bad.output

    gw = runner.invoke(main, ["gateways", "add", "--hospital", "90000033", "--name", "cli-gw"])
    assert gw.exit_code == 0, gw.output
    out = json.loads(gw.output)
    assert out["client_id"] and out["client_secret"].startswith("aifi_cs_")
    revoked = runner.invoke(main, ["gateways", "revoke", out["client_id"]])
    assert revoked.exit_code == 0 and json.loads(revoked.output)["status"] == "revoked"
    unknown = runner.invoke(main, ["gateways", "add", "--hospital", "12345678", "--name", "x"])
    assert unknown.exit_code == 2


def test_auditors_find_the_audit_trail_in_the_navigation(app):
    app.config["WTF_CSRF_ENABLED"] = False
    for email, shown in (("auditor@demo.aifi.nl", True), ("inkoop@demo.aifi.nl", False)):
        client = app.test_client()
        client.post("/login", data={"email": email, "password": "aifi-demo-2026"})
        page = client.get("/?lang=en").get_data(as_text=True)
        assert ('href="/audit"' in page) is shown
        assert (client.get("/audit").status_code == 200) is shown
