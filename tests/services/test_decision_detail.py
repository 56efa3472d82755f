"""Who sees a stored decision's patient pseudonym (``decisions.decision_detail``): the hospital's
gateway, and staff who work with objections *or* with the audit trail. No role holds one of
those permissions without the other, but a personal API token's scopes can (they narrow a role)."""

from __future__ import annotations

import pytest

from registry.actor import Actor
from registry.permissions import Permission
from registry.services import decisions
from tests.factories import child_hand, make_world

PSEUDONYM = "cd" * 32


@pytest.mark.parametrize("scopes, shown", [
    ({Permission.DECISIONS_READ}, False),
    ({Permission.DECISIONS_READ, Permission.OBJECTIONS_READ}, True),
    ({Permission.DECISIONS_READ, Permission.AUDIT_READ}, True),
    ({Permission.DECISIONS_READ, Permission.OBJECTIONS_READ, Permission.AUDIT_READ}, True),
])
def test_the_pseudonym_is_shown_for_objections_or_for_the_audit_trail(session, clock, policy_engine,
                                                                      scopes, shown):
    world = make_world(session, clock)
    outcome = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                               request=child_hand(world.tool.slug, patient_pseudonym=PSEUDONYM))
    staff = Actor(kind="user", id="7", roles=("auditor",), permissions=frozenset(scopes))
    stored = decisions.get_decision(session, actor=staff, decision_id=outcome.decision.id)
    detail = decisions.decision_detail(stored, actor=staff)
    assert detail["request"]["patient_pseudonym"] == (PSEUDONYM if shown else "(withheld)")
    assert stored.request["patient_pseudonym"] == PSEUDONYM  # withheld in the view, not the row
