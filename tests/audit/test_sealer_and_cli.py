"""The sequencer runs from the app (a background thread when configured) and from the CLI."""

from __future__ import annotations

import time

from click.testing import CliRunner
from sqlalchemy import func, select, text

from registry.app import create_app
from registry.cli import main
from registry.db.audit import AuditEntry
from registry.db.base import make_session_factory
from registry.db.migrate import upgrade
from registry.settings import Settings
from tests.audit.conftest import add_entries


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _unsealed(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).where(AuditEntry.sealed.is_(False)))


def test_background_sealer_starts_only_when_configured(fresh_engine, tmp_path, clock):
    upgrade(fresh_engine)
    sessions = make_session_factory(fresh_engine)
    with sessions() as s:
        add_entries(s, clock, 5)
        s.commit()
    base = {"environment": "test", "database_url": _url(fresh_engine), "secret_key": "t" * 40,
            "signing_key_dir": tmp_path / "keys", "audit_checkpoint_every": 2}
    off = create_app(Settings(**base), engine=fresh_engine, sessions=sessions)
    assert "audit_sealer" not in off.extensions

    app = create_app(Settings(**base, audit_seal_interval=0.05), engine=fresh_engine,
                     sessions=sessions)
    sealer = app.extensions["audit_sealer"]
    try:
        deadline = time.monotonic() + 10
        while _unsealed(sessions) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _unsealed(sessions) == 0
        with sessions() as s:  # a checkpoint every 2 entries, signed by the app's key
            assert s.scalar(text("SELECT count(*) FROM audit_checkpoints")) >= 2
    finally:
        sealer.stop()


def test_cli_seal_checkpoint_verify_and_tamper(fresh_engine, tmp_path, monkeypatch, clock):
    upgrade(fresh_engine)
    sessions = make_session_factory(fresh_engine)
    with sessions() as s:
        add_entries(s, clock, 6)
        s.commit()
    monkeypatch.setenv("REGISTRY_DATABASE_URL", _url(fresh_engine))
    monkeypatch.setenv("REGISTRY_SIGNING_KEY_DIR", str(tmp_path / "keys"))
    runner = CliRunner()
    sealed = runner.invoke(main, ["audit", "seal"])
    assert sealed.exit_code == 0 and "sealed 6" in sealed.output
    assert runner.invoke(main, ["audit", "checkpoint"]).exit_code == 0
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    exported = runner.invoke(main, ["audit", "export", "--format", "csv"])
    assert exported.exit_code == 0 and exported.output.count("\n") == 7  # header + 6
    assert runner.invoke(main, ["audit", "prune"]).exit_code == 0  # nothing old enough yet
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET object_id = 'x' WHERE seq = 4"))
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1 and '"seq": 4' in broken.output
