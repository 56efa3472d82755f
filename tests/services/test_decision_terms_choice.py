"""Which licence and which agreement a decision is judged on when a hospital has several for the
same tool or processor: the one in force on the day (active, signed), covering the purpose;
when none is, the nearest one, so that the reason names the relevant document."""

from __future__ import annotations

from datetime import date

from registry.services import agreements, contracts, decisions
from tests.factories import SYSTEM, child_hand, make_world

KW = {"actor": SYSTEM}


def _decide(session, clock, policy_engine, world, key):
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, study_key=key))


def _licence(session, clock, world, ref, starts_on, ends_on, status="active"):
    lic = contracts.create_licence(session, **KW, clock=clock, reference=f"{ref}-{world.hospital.id}",
                                   contract_id=world.contract.id, hospital_id=world.hospital.id,
                                   tool_id=world.tool.id, starts_on=starts_on, ends_on=ends_on,
                                   quota_limit=100)
    if status != "active":
        contracts.set_licence_status(session, **KW, clock=clock, licence_id=lic.id, status=status,
                                     reason="test")
    session.flush()
    return lic


def _agreement(session, clock, world, ref, *, effective_on, ends_on=None, status="signed",
               purposes=("clinical-care",)):
    dpa = agreements.create_agreement(
        session, **KW, clock=clock, reference=f"{ref}-{world.hospital.id}", controller_id=world.hospital.id,
        processor_id=world.operator.id, purposes=list(purposes), effective_on=effective_on, ends_on=ends_on,
        status=status, signed_on=effective_on if status == "signed" else None,
        subprocessors=[{"name": world.vendor.name, "organisation_id": world.vendor.id,
                        "approved_on": effective_on}])
    session.flush()
    return dpa


def test_the_licence_in_force_is_chosen_over_an_ended_and_a_suspended_one(session, clock, policy_engine):
    """The suspended one ends later than the one in force: ending later does not outrank being in
    force."""
    world = make_world(session, clock, contract_term=(date(2025, 1, 1), date(2026, 12, 31)),
                       licence_term=(date(2026, 1, 1), date(2026, 11, 30)))
    _licence(session, clock, world, "OLD", date(2025, 1, 1), date(2025, 12, 31))
    _licence(session, clock, world, "HELD", date(2026, 1, 1), date(2026, 12, 31), status="suspended")
    outcome = _decide(session, clock, policy_engine, world, "l-1")
    assert outcome.decision.outcome == "permit"
    assert outcome.decision.refs["licence"] == {"id": world.licence.id, "reference": world.licence.reference}


def test_with_no_licence_in_force_the_reason_names_the_one_begun_by_the_day(session, clock, policy_engine):
    """A suspended licence that begins on the day, and an active one that begins later (and ends
    later): neither is in force; the one begun by the day is the one to name."""
    world = make_world(session, clock, licence_term=(date(2026, 1, 1), date(2026, 3, 31)))
    begun = _licence(session, clock, world, "BEGUN", date(2026, 6, 1), date(2026, 8, 31), status="suspended")
    _licence(session, clock, world, "LATER", date(2026, 9, 1), date(2026, 12, 31))
    outcome = _decide(session, clock, policy_engine, world, "l-2")
    assert [r["code"] for r in outcome.decision.reasons] == ["LICENCE_NOT_IN_FORCE"]
    assert outcome.decision.refs["licence"]["id"] == begun.id


def test_the_signed_agreement_in_force_for_the_purpose_is_chosen(session, clock, policy_engine):
    """Beside the world's own (signed, in force since January, clinical care): a newer draft, a
    signed one that has ended, and a newer signed one for research only. The decision is judged
    on the world's own and permits."""
    world = make_world(session, clock)
    _agreement(session, clock, world, "DRAFT", effective_on=date(2026, 5, 1), status="in_review")
    _agreement(session, clock, world, "ENDED", effective_on=date(2026, 2, 1), ends_on=date(2026, 5, 31))
    _agreement(session, clock, world, "RESEARCH", effective_on=date(2026, 3, 1), purposes=("research",))
    outcome = _decide(session, clock, policy_engine, world, "a-1")
    assert outcome.decision.outcome == "permit"
    assert outcome.decision.refs["agreement"] == {"id": world.agreement.id, "reference": world.agreement.reference}


def test_among_agreements_alike_the_latest_effective_is_chosen(session, clock, policy_engine):
    world = make_world(session, clock)  # effective 2026-01-01
    newer = _agreement(session, clock, world, "NEWER", effective_on=date(2026, 4, 1))
    outcome = _decide(session, clock, policy_engine, world, "a-2")
    assert outcome.decision.outcome == "permit"
    assert outcome.decision.refs["agreement"]["id"] == newer.id


def test_with_no_agreement_signed_the_reason_names_a_draft(session, clock, policy_engine):
    world = make_world(session, clock, agreement_status="in_review")
    outcome = _decide(session, clock, policy_engine, world, "a-3")
    assert [r["code"] for r in outcome.decision.reasons] == ["AGREEMENT_NOT_SIGNED"]
    assert outcome.decision.refs["agreement"]["id"] == world.agreement.id


def test_a_licence_under_a_contract_in_force_is_chosen(session, clock, policy_engine):
    """Two licences in force for the same tool, the other (ending later) under a framework
    contract that was terminated: the one under the contract in force is chosen, and permits."""
    world = make_world(session, clock, licence_term=(date(2026, 1, 1), date(2026, 11, 30)))
    other = contracts.create_contract(
        session, **KW, clock=clock, reference=f"FW-OTHER-{world.hospital.id}", title="Other framework",
        vendor_id=world.vendor.id, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31),
        buyer_ids=[world.hospital.id], tools=[{"tool_id": world.tool.id, "unit_price_cents": 100}])
    lic = contracts.create_licence(session, **KW, clock=clock, reference=f"LIC-OTHER-{world.hospital.id}",
                                   contract_id=other.id, hospital_id=world.hospital.id, tool_id=world.tool.id,
                                   starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), quota_limit=100)
    contracts.set_contract_status(session, **KW, clock=clock, contract_id=other.id, status="terminated",
                                  reason="test")
    session.flush()
    session.refresh(lic)
    assert lic.status == "active"  # the licence itself stays active: only its contract ended
    outcome = _decide(session, clock, policy_engine, world, "l-3")
    assert outcome.decision.outcome == "permit"
    assert outcome.decision.refs["contract"]["id"] == world.contract.id
