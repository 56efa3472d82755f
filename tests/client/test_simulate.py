"""`registry simulate` end to end against a loopback registry: the summary equals what the
database recorded (decisions per hospital × tool, deny reasons, confirmed and released usage)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from registry.client import RegistryClient
from registry.db.decisions import Decision
from registry.db.organisations import Organisation
from registry.simulate import register_demo_credentials, run_simulation


def test_simulation_summary_matches_the_database(session, clock, live):
    creds = register_demo_credentials(session, clock=clock)
    session.commit()
    assert len(creds) >= 5  # the five pilot hospitals at least; the offboarded one is left out
    seen = []
    summary = run_simulation(live.url, creds, studies=60, seed=7, progress=seen.append,
                             make_client=lambda *a, **k: RegistryClient(*a, now=clock.now, **k))
    assert sum(seen) == 60 and summary.errors == 0 and summary.offline == 0
    session.expire_all()
    rows = session.execute(
        select(Organisation.name, Decision.tool_slug, Decision.outcome, Decision.reasons,
               Decision.reservation)
        .join(Organisation, Organisation.id == Decision.hospital_id)
        .where(Decision.study_key.like("sim-7-%"))).all()
    permits, denies, usage = Counter(), Counter(), Counter()
    for hospital, tool, outcome, reasons, reservation in rows:
        if outcome == "permit":
            permits[(hospital, tool)] += 1
            usage[(hospital, tool, reservation)] += 1
        else:
            denies[(hospital, tool, reasons[0]["code"])] += 1
    got_permits = {k: r.permits for k, r in summary.rows.items() if r.permits}
    got_denies = {(*k, code): n for k, r in summary.rows.items() for code, n in r.denies.items()}
    assert got_permits == dict(permits)
    assert got_denies == dict(denies)
    for key, r in summary.rows.items():
        assert r.usage["completed"] == usage[(*key, "confirmed")]
        assert r.usage["failed"] + r.usage["cancelled"] == usage[(*key, "released")]
    assert sum(permits.values()) > 10 and sum(denies.values()) > 3
    assert summary.retries > 0
    assert "hospital" in summary.table().splitlines()[0]


def test_simulate_needs_one_source_of_credentials():
    from click.testing import CliRunner

    from registry.cli import main

    result = CliRunner().invoke(main, ["simulate", "--studies", "1"])
    assert result.exit_code == 2 and "--register or --credentials" in result.output
