"""An agreement's (or a licence's) history shows its changes and the decisions that relied on it."""

from datetime import date

from registry.actor import Actor
from registry.permissions import permissions_for_roles
from registry.services import agreements, decisions
from registry.services.audit import object_history
from tests.factories import SYSTEM, child_hand, make_world


def test_history_of_an_agreement_has_its_changes_and_its_decisions(session, clock, policy_engine):
    world = make_world(session, clock)
    permit = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                              request=child_hand(world.tool.slug, "h1"))
    agreements.transition_agreement(session, actor=SYSTEM, clock=clock, agreement_id=world.agreement.id,
                                    to="terminated", note="end of service", terminated_on=date(2026, 5, 31),
                                    deletion_due_on=date(2026, 6, 30))
    deny = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, "h2"))
    auditor = Actor(kind="user", id="9", roles=("auditor",), permissions=permissions_for_roles(["auditor"]))
    history = object_history(session, actor=auditor, clock=clock, object_type="data_processing_agreements",
                             object_id=str(world.agreement.id))
    kinds = [(e.event_type, e.object_id) for e in history]
    assert ("decision", permit.decision.id) in kinds and ("decision", deny.decision.id) in kinds
    assert ("change", str(world.agreement.id)) in kinds
    assert kinds.index(("decision", permit.decision.id)) < kinds.index(("decision", deny.decision.id))
    licence_history = object_history(session, actor=auditor, clock=clock, object_type="licences",
                                     object_id=str(world.licence.id))
    assert {e.object_id for e in licence_history if e.event_type == "decision"} == {
        permit.decision.id, deny.decision.id}
