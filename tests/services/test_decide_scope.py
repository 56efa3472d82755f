"""Who may ask for a routing decision (a gateway of a hospital, for that hospital only), and
the scope of a study key: a permit is replayed only for the same hospital, tool and purpose, and
never in answer to a dry run."""

from __future__ import annotations

import pytest

from registry.actor import Actor, PermissionDenied
from registry.permissions import Permission
from registry.services import decisions
from tests.factories import child_hand, make_world


def _decide(session, clock, policy_engine, actor, tool, **kw):
    return decisions.decide(session, actor=actor, clock=clock, engine=policy_engine,
                            request=child_hand(tool, **kw))


def test_the_same_study_key_at_another_hospital_is_decided_afresh(session, clock, policy_engine):
    """Idempotency keys are per hospital: hospital B sending the study key, tool and purpose of a
    permit of hospital A gets a decision of its own (a deny: B has no licence for A's tool), not
    A's permit replayed."""
    a, b = make_world(session, clock), make_world(session, clock)
    permit = _decide(session, clock, policy_engine, a.actor, a.tool.slug, study_key="shared-1")
    assert permit.decision.outcome == "permit"
    other = _decide(session, clock, policy_engine, b.actor, a.tool.slug, study_key="shared-1")
    assert not other.replayed and other.decision.id != permit.decision.id
    assert other.decision.hospital_id == b.hospital.id and other.decision.outcome == "deny"
    assert "NO_LICENCE" in [r["code"] for r in other.decision.reasons]
    assert decisions.idempotency_key(a.hospital.id, a.tool.slug, "clinical-care", "shared-1") != \
        decisions.idempotency_key(b.hospital.id, a.tool.slug, "clinical-care", "shared-1")


@pytest.mark.parametrize("other", [{"tool": "no-such-tool"}, {"purpose": "marketing"}])
def test_the_same_study_key_for_another_tool_or_purpose_is_decided_afresh(session, clock, policy_engine,
                                                                          other):
    world = make_world(session, clock)
    permit = _decide(session, clock, policy_engine, world.actor, world.tool.slug, study_key="k-1")
    # Not other.pop: the parameter's dict is shared by every run of this test in one process.
    again = _decide(session, clock, policy_engine, world.actor, other.get("tool", world.tool.slug),
                    study_key="k-1", **{k: v for k, v in other.items() if k != "tool"})
    assert not again.replayed and again.decision.id != permit.decision.id
    assert again.decision.outcome == "deny"  # an unknown tool, or a purpose the registry does not know


def test_a_dry_run_of_a_permitted_study_is_evaluated_afresh(session, clock, policy_engine):
    """A dry run is never a retry: it is judged again (on today's terms and count) and reserves
    nothing, even with the study key of a permit."""
    world = make_world(session, clock, quota_limit=1)
    permit = _decide(session, clock, policy_engine, world.actor, world.tool.slug, study_key="k-2")
    dry = _decide(session, clock, policy_engine, world.actor, world.tool.slug, study_key="k-2", dry_run=True)
    assert not dry.replayed and dry.decision.id != permit.decision.id and dry.decision.dry_run
    assert dry.decision.outcome == "deny"  # the one unit is the permit's
    assert [r["code"] for r in dry.decision.reasons] == ["QUOTA_EXHAUSTED"]


def _not_a_hospital_gateway(world):
    routing = frozenset({Permission.ROUTING_DECIDE})
    return {
        # the registry itself holds every permission, and is no gateway
        "system": Actor.system("tests-decide"),
        # a person carrying a hospital id (never made so by Actor.for_user, but the check is here)
        "user of a hospital": Actor(kind="user", id="9", permissions=routing, hospital_id=world.hospital.id,
                                    gateway_id=world.gateway.id),
        # a gateway without a hospital
        "gateway without hospital": Actor(kind="gateway", id=world.gateway.client_id, permissions=routing,
                                          gateway_id=world.gateway.id),
    }


@pytest.mark.parametrize("who", ["system", "user of a hospital", "gateway without hospital"])
def test_only_a_gateway_of_a_hospital_decides(session, clock, policy_engine, who):
    world = make_world(session, clock)
    actor = _not_a_hospital_gateway(world)[who]
    with pytest.raises(PermissionDenied) as denied:
        _decide(session, clock, policy_engine, actor, world.tool.slug)
    assert denied.value.permission == Permission.ROUTING_DECIDE  # named in the 403 answer
    assert actor.ref in str(denied.value)
