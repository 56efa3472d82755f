"""What a decision writes: the decision row and exactly one audit entry with it, complete, on
SQLite (two inserts) and PostgreSQL (one statement: the decision insert as a CTE)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from registry.db.audit import AuditEntry
from registry.db.decisions import Decision
from registry.services import decisions
from tests.factories import child_hand, make_world


def _entries(session, decision_id):
    return session.scalars(select(AuditEntry).where(AuditEntry.object_type == "decision",
                                                    AuditEntry.object_id == decision_id)).all()


def test_a_permit_and_a_deny_each_store_one_complete_entry(session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=1)
    for key, outcome, audit_outcome in (("r-1", "permit", "success"), ("r-2", "deny", "denied")):
        decided = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                   request=child_hand(world.tool.slug, study_key=key))
        session.expire_all()
        assert session.get(Decision, decided.decision.id).outcome == outcome
        [entry] = _entries(session, decided.decision.id)
        assert (entry.event_type, entry.action_code, entry.outcome) == ("decision", "E", audit_outcome)
        assert entry.sealed is False and entry.seq is None and entry.source_system == "aifi-registry"
        assert entry.actor == world.actor.ref and entry.purpose_of_use == "clinical-care"
        assert {"type": "study", "id": key, "sensitivity": "opaque-key"} in entry.objects
        assert entry.checks["authorisation"] == outcome


def test_a_permit_whose_key_is_taken_stores_neither_row(session, clock, policy_engine):
    """The lost race of two retries of one study: the second permit is not stored, and neither
    is an entry for it (the replay writes its own)."""
    world = make_world(session, clock)
    first = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                             request=child_hand(world.tool.slug, study_key="race"))
    twin = decisions.DecisionRecord(**dict(vars(first.decision), id=str(uuid.uuid4())))
    assert decisions._store(session, twin, actor=world.actor, once=True) is False
    session.expire_all()
    assert session.get(Decision, twin.id) is None and _entries(session, twin.id) == []
    assert len(_entries(session, first.decision.id)) == 1


def test_a_deny_and_a_dry_run_are_never_stored_as_overage(session, clock, policy_engine):
    """Only a permit that took a unit beyond the quota is overage (billed, and shown as such to
    procurement); a deny or a dry run took none, even on a licence whose quota is used up and
    which allows overage."""
    world = make_world(session, clock, quota_limit=0, on_quota_exhausted="overage")
    denied = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                              request=child_hand(world.tool.slug, study_key="r-deny", purpose="research"))
    dry = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                           request=child_hand(world.tool.slug, study_key="r-dry", dry_run=True))
    billed = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                              request=child_hand(world.tool.slug, study_key="r-billed"))
    session.expire_all()
    stored = {key: session.get(Decision, out.decision.id)
              for key, out in (("deny", denied), ("dry", dry), ("billed", billed))}
    assert [stored[k].outcome for k in ("deny", "dry", "billed")] == ["deny", "permit", "permit"]
    assert [stored[k].overage for k in ("deny", "dry", "billed")] == [False, False, True]


def test_a_deny_for_a_used_up_quota_is_not_overage(session, clock, policy_engine):
    """On a licence that denies beyond its quota, the deny that finds no unit left took none
    (the decision learns it when its reservation finds the last unit gone, not before)."""
    world = make_world(session, clock, quota_limit=1)
    for key in ("r-last-unit", "r-none-left"):
        out = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                               request=child_hand(world.tool.slug, study_key=key))
    session.expire_all()
    stored = session.get(Decision, out.decision.id)
    assert (stored.outcome, stored.overage) == ("deny", False)
    assert [r["code"] for r in out.decision.reasons] == ["QUOTA_EXHAUSTED"]
