"""The views of a decision: ``decision_view`` (the answer a gateway gets, signed, from
POST /decisions and /decisions/evaluate) and ``decision_detail`` (a stored decision explained),
field by field against the stored row; and who sees the patient pseudonym in the detail."""

from __future__ import annotations

import pytest

from registry.actor import Actor
from registry.api.schemas import DecisionAnswer
from registry.db.decisions import Decision
from registry.permissions import Permission
from registry.services import decisions
from tests.factories import child_hand, make_world

PSEUDONYM = "cd" * 32


def _decide(session, clock, policy_engine, world, **kw):
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, **kw))


@pytest.mark.parametrize("quota_limit, outcome", [(5, "permit"), (0, "deny")])
def test_the_answer_carries_every_field_of_the_decision(session, clock, policy_engine, quota_limit,
                                                        outcome):
    world = make_world(session, clock, quota_limit=quota_limit)
    decided = _decide(session, clock, policy_engine, world)
    session.expire_all()
    d = session.get(Decision, decided.decision.id)
    view = decisions.decision_view(decided)
    assert set(view) == set(DecisionAnswer.model_fields) - {"jws"}  # the documented answer
    assert view == {
        "decision_id": d.id, "decision": outcome, "reasons": d.reasons, "obligations": d.obligations,
        "refs": d.refs, "quota": decided.quota, "policy_version": policy_engine.version,
        "decided_at": "2026-06-01T10:00:00Z", "evaluated_on": "2026-06-01", "dry_run": False,
        "replayed": False, "ttl_seconds": 0,
    }
    assert view["quota"]["limit"] == quota_limit and (view["reasons"] == []) == (outcome == "permit")
    assert view["obligations"] == ([{"code": "REPORT_USAGE"}] if outcome == "permit" else [])
    assert view["refs"] == {  # the terms judged on, for the gateway's record
        "licence": {"id": world.licence.id, "reference": world.licence.reference},
        "contract": {"id": world.contract.id, "reference": world.contract.reference},
        "agreement": {"id": world.agreement.id, "reference": world.agreement.reference},
        "tool_version": {"id": world.version.id, "version": "1.0"},
        "deployment": {"id": world.deployment.id, "status": "approved"},
    }
    assert decisions.decision_view(decided, ttl_seconds=30)["ttl_seconds"] == 30


def test_the_detail_carries_every_column_it_names(session, clock, policy_engine):
    world = make_world(session, clock)
    decided = _decide(session, clock, policy_engine, world, dry_run=True)
    session.expire_all()
    d = session.get(Decision, decided.decision.id)
    detail = decisions.decision_detail(d, actor=world.actor)
    assert detail == {
        "decision_id": d.id, "kind": "decide", "decision": "permit", "dry_run": True,
        "decided_at": "2026-06-01T10:00:00Z", "evaluated_on": "2026-06-01",
        "actor": world.actor.ref, "tool": world.tool.slug, "purpose": "clinical-care",
        "study_key": "study-1", "reasons": [], "obligations": [], "refs": d.refs,
        "request": d.request, "facts": d.facts, "rules": ["route"],
        "policy_version": policy_engine.version, "reservation": "none",
    }
    assert detail["refs"]["licence"]["id"] == world.licence.id
    assert detail["facts"]["licence"]["quota_remaining"] == 100


@pytest.mark.parametrize("scopes, shown", [
    ({Permission.DECISIONS_READ}, False),
    ({Permission.DECISIONS_READ, Permission.OBJECTIONS_READ}, True),
    ({Permission.DECISIONS_READ, Permission.AUDIT_READ}, True),
    ({Permission.DECISIONS_READ, Permission.OBJECTIONS_READ, Permission.AUDIT_READ}, True),
])
def test_the_pseudonym_is_shown_for_objections_or_for_the_audit_trail(session, clock, policy_engine,
                                                                      scopes, shown):
    """No role holds one of objections:read and audit:read without the other, but a personal
    API token's scopes can (they narrow a role): either one is enough."""
    world = make_world(session, clock)
    outcome = _decide(session, clock, policy_engine, world, patient_pseudonym=PSEUDONYM)
    staff = Actor(kind="user", id="7", roles=("auditor",), permissions=frozenset(scopes))
    stored = decisions.get_decision(session, actor=staff, decision_id=outcome.decision.id)
    detail = decisions.decision_detail(stored, actor=staff)
    assert detail["request"]["patient_pseudonym"] == (PSEUDONYM if shown else "(withheld)")
    assert stored.request["patient_pseudonym"] == PSEUDONYM  # withheld in the view, not the row


def test_a_gateway_reads_its_own_hospital_s_decisions_only(session, clock, policy_engine):
    from registry.actor import PermissionDenied
    from registry.services.errors import NotFound

    world, other = make_world(session, clock), make_world(session, clock)
    own = _decide(session, clock, policy_engine, world, study_key="g-1")
    foreign = _decide(session, clock, policy_engine, other, study_key="g-1")
    assert decisions.get_decision(session, actor=world.actor, decision_id=own.decision.id).id == own.decision.id
    with pytest.raises(NotFound):  # another hospital's decision does not exist for this gateway
        decisions.get_decision(session, actor=world.actor, decision_id=foreign.decision.id)
    with pytest.raises(NotFound):
        decisions.get_decision(session, actor=world.actor, decision_id="no-such-decision")
    usage_only = Actor.for_gateway(world.gateway, frozenset({Permission.USAGE_REPORT}))
    with pytest.raises(PermissionDenied):
        decisions.get_decision(session, actor=usage_only, decision_id=own.decision.id)
