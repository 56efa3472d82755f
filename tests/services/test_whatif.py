"""What-if previews: the count equals the decisions that really change once the change is made,
and the preview stores nothing (no row in any table, no quota unit)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from registry.clock import FixedClock
from registry.db.contracts import QuotaCounter
from registry.policy.engine import POLICY_DIR, PolicyEngine
from registry.services import agreements, contracts, decisions, deployments, tools, whatif
from tests.conftest import DEMO_NOW
from tests.factories import CLINICAL_OWNER, SYSTEM, child_hand, make_world


def _decide_on(session, policy_engine, world, days_ago: int, key: str, **overrides):  # noqa: ANN001, ANN003, ANN202
    clock = FixedClock(DEMO_NOW - timedelta(days=days_ago))
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, study_key=key, **overrides)).decision


@pytest.fixture
def two_worlds(session, clock, policy_engine):  # noqa: ANN001, ANN201
    """Two hospitals with a tool each, and decisions spread over the last weeks: permits, one deny
    (outside the intended use) and one permit older than the 30-day window."""
    w1, w2 = make_world(session, clock), make_world(session, clock)
    for world in (w1, w2):
        for days_ago in (0, 3, 10, 20, 29):
            _decide_on(session, policy_engine, world, days_ago, f"s-{days_ago}")
        _decide_on(session, policy_engine, world, 40, "old")
    _decide_on(session, policy_engine, w1, 2, "adult", study={"patient_age_years": 40})
    session.commit()
    return w1, w2


def _row_counts(session) -> dict[str, int]:  # noqa: ANN001
    return {t.name: session.scalar(select(func.count()).select_from(t)) for t in SQLModel.metadata.sorted_tables}


def _quota(session) -> list[tuple]:  # noqa: ANN001
    return sorted(session.execute(select(QuotaCounter.licence_id, QuotaCounter.window_start, QuotaCounter.used)))


def _really_changed(session, clock, policy_engine, apply, **filters) -> dict[str, str]:  # noqa: ANN001, ANN003
    """Re-evaluate the same decisions, make the change for real, re-evaluate: what changed."""
    recent = whatif.recent_decisions(session, actor=SYSTEM, clock=clock, **filters)
    before = whatif.reevaluate(session, engine=policy_engine, decisions=recent)
    apply()
    session.flush()
    after = whatif.reevaluate(session, engine=policy_engine, decisions=recent)
    return {d.id: "permit" if after[d.id] else "deny" for d in recent if before[d.id] != after[d.id]}


def _check(session, clock, policy_engine, run_preview, apply, expect_to_deny: int):  # noqa: ANN001
    counts, quota = _row_counts(session), _quota(session)
    preview = run_preview()
    assert _row_counts(session) == counts  # nothing stored: no change record, audit entry, decision
    assert _quota(session) == quota
    assert preview.to_deny == expect_to_deny and preview.evaluated >= expect_to_deny
    assert preview.changed_ids == _really_changed(session, clock, policy_engine, apply)
    return preview


def test_suspending_a_version(session, clock, policy_engine, two_worlds):
    w1, w2 = two_worlds
    kw = {"actor": SYSTEM, "clock": clock}
    preview = _check(session, clock, policy_engine,
                     lambda: whatif.preview_version_suspension(session, **kw, engine=policy_engine,
                                                               tool_version_id=w1.version.id),
                     lambda: tools.suspend_tool_version(session, **kw, tool_version_id=w1.version.id, reason="risk"),
                     expect_to_deny=5)  # the five permits in the window; the deny stays a deny
    assert [(p.hospital, p.tool, p.to_deny, p.to_permit) for p in preview.pairs] == [
        (w1.hospital.name, w1.tool.name, 5, 0)]
    assert preview.since == date(2026, 5, 3) and preview.until == date(2026, 6, 1)


def test_suspending_a_deployment(session, clock, policy_engine, two_worlds):
    w1, _ = two_worlds
    _check(session, clock, policy_engine,
           lambda: whatif.preview_deployment_suspension(session, actor=CLINICAL_OWNER, clock=clock,
                                                        engine=policy_engine, deployment_id=w1.deployment.id),
           lambda: deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock,
                                                  deployment_id=w1.deployment.id, reason="risk"),
           expect_to_deny=5)


def test_ending_a_licence_early_counts_only_the_days_after_it(session, clock, policy_engine, two_worlds):
    w1, _ = two_worlds
    last_day = date(2026, 5, 25)  # decisions of 2026-05-29 and 2026-06-01 fall after it
    _check(session, clock, policy_engine,
           lambda: whatif.preview_licence_change(session, actor=SYSTEM, clock=clock, engine=policy_engine,
                                                 licence_id=w1.licence.id, changes={"ends_on": last_day}),
           lambda: contracts.end_licence_early(session, actor=SYSTEM, clock=clock, licence_id=w1.licence.id,
                                               last_day=last_day, reason="ended"),
           expect_to_deny=2)


def test_terminating_a_licence(session, clock, policy_engine, two_worlds):
    w1, _ = two_worlds
    _check(session, clock, policy_engine,
           lambda: whatif.preview_licence_status(session, actor=SYSTEM, clock=clock, engine=policy_engine,
                                                 licence_id=w1.licence.id, status="terminated"),
           lambda: contracts.set_licence_status(session, actor=SYSTEM, clock=clock, licence_id=w1.licence.id,
                                                status="terminated", reason="ended"),
           expect_to_deny=5)


def test_terminating_an_agreement(session, clock, policy_engine, two_worlds):
    w1, _ = two_worlds
    today = date(2026, 6, 1)
    _check(session, clock, policy_engine,
           lambda: whatif.preview_agreement_transition(session, actor=SYSTEM, clock=clock, engine=policy_engine,
                                                       agreement_id=w1.agreement.id, to="terminated"),
           lambda: agreements.transition_agreement(session, actor=SYSTEM, clock=clock, agreement_id=w1.agreement.id,
                                                   to="terminated", note="ended", terminated_on=today,
                                                   deletion_due_on=today),
           expect_to_deny=5)


def test_a_refused_change_is_refused_in_the_preview_too(session, clock, policy_engine, two_worlds):
    from registry.actor import Actor, PermissionDenied

    w1, _ = two_worlds
    viewer = Actor(kind="user", id="99", roles=("viewer",))
    counts = _row_counts(session)
    with pytest.raises(PermissionDenied):
        whatif.preview_version_suspension(session, actor=viewer, clock=clock, engine=policy_engine,
                                          tool_version_id=w1.version.id)
    assert _row_counts(session) == counts


def test_a_new_policy_set_both_ways(session, clock, policy_engine, two_worlds, tmp_path):
    """Policies that no longer ask for an approved deployment turn the denies of a hospital
    without one into permits; the same files back are no change."""
    w1, w2 = two_worlds
    deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w2.deployment.id,
                                   reason="risk")
    session.commit()
    lenient = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, lenient)  # not load.__defaults__: mutmut wraps load
    route = (lenient / "route.cedar").read_text()
    assert "(!context.deployment.required || context.deployment.approved) &&" in route
    (lenient / "route.cedar").write_text(route.replace(
        "(!context.deployment.required || context.deployment.approved) &&", ""))
    counts = _row_counts(session)
    preview = whatif.preview(session, actor=SYSTEM, clock=clock, engine=policy_engine,
                             policies=PolicyEngine.load(lenient))
    assert _row_counts(session) == counts
    # Five permits of w2 are denies now (suspended); the lenient policies permit them again.
    assert (preview.to_deny, preview.to_permit) == (0, 5)
    assert [(p.hospital, p.to_permit) for p in preview.pairs] == [(w2.hospital.name, 5)]
    same = whatif.preview(session, actor=SYSTEM, clock=clock, engine=policy_engine, policies=policy_engine)
    assert same.changed == 0 and same.evaluated == preview.evaluated


def test_the_command_line(fresh_engine, monkeypatch, tmp_path):
    """`registry whatif --policies DIR`: the same files are no change; unreadable files exit 2."""
    import json

    from click.testing import CliRunner

    from registry.cli import main

    monkeypatch.setenv("REGISTRY_DATABASE_URL", fresh_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("REGISTRY_SIGNING_KEY_DIR", str(tmp_path / "keys"))
    runner = CliRunner()
    assert runner.invoke(main, ["demo"]).exit_code == 0
    same = runner.invoke(main, ["whatif", "--policies", str(POLICY_DIR), "--json"])
    assert same.exit_code == 0, same.output
    out = json.loads(same.output)
    assert (out["to_deny"], out["to_permit"], out["days"]) == (0, 0, 30)
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = runner.invoke(main, ["whatif", "--policies", str(empty), "--days", "7"])
    assert broken.exit_code == 2 and "no policies" in broken.output
