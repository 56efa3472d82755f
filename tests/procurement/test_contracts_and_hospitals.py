"""Framework contracts and call-offs: extension, early end, term and ceiling; onboarding and
offboarding a hospital — each with its effect on the next decision."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from registry.actor import Actor
from registry.clock import FixedClock
from registry.db.changes import ChangeRecord
from registry.db.contracts import Licence
from registry.db.oauth import AccessToken
from registry.db.organisations import Organisation
from registry.permissions import Permission
from registry.services import agreements, contracts, decisions, gateways, hospitals
from registry.services.errors import ValidationFailed
from tests.factories import SYSTEM, child_hand, make_deployment, make_world

KW = {"actor": SYSTEM}


def _decide(session, engine, actor, on: date, key: str):  # noqa: ANN001, ANN202
    clock = FixedClock(datetime(on.year, on.month, on.day, 10, 0, tzinfo=timezone.utc))
    outcome = decisions.decide(session, actor=actor, clock=clock, engine=engine, request=child_hand(
        actor_tool(session, actor), study_key=key))
    return outcome.decision.outcome, [r["code"] for r in outcome.decision.reasons]


def actor_tool(session, actor) -> str:  # noqa: ANN001
    return session.info["tool_slug"]


@pytest.fixture
def engine_(policy_engine):  # noqa: ANN001, ANN202
    return policy_engine


def _world(session, clock, **kw):  # noqa: ANN001, ANN202
    w = make_world(session, clock, **kw)
    session.info["tool_slug"] = w.tool.slug
    return w


def test_exercising_an_extension_option_makes_the_next_decision_after_the_old_end_a_permit(
        session, clock, policy_engine):
    w = _world(session, clock)
    contracts.amend_contract(session, **KW, clock=clock, contract_id=w.contract.id,
                             changes={"extension_options": [{"months": 12, "notice_days": 90}]})
    assert _decide(session, policy_engine, w.actor, date(2026, 12, 31), "ext-1")[0] == "permit"
    outcome, reasons = _decide(session, policy_engine, w.actor, date(2027, 1, 4), "ext-2")
    assert outcome == "deny" and "CONTRACT_NOT_IN_FORCE" in reasons

    ext = contracts.exercise_extension(session, **KW, clock=clock, contract_id=w.contract.id, note="year two")
    assert (ext.previous_ends_on, ext.new_ends_on, ext.exercised_by) == (date(2026, 12, 31), date(2027, 12, 31),
                                                                         SYSTEM.ref)
    assert ext.exercised_at == clock.now()
    session.refresh(w.licence)
    assert w.licence.ends_on == date(2027, 12, 31)  # the call-off followed
    assert _decide(session, policy_engine, w.actor, date(2027, 1, 4), "ext-3")[0] == "permit"
    with pytest.raises(ValidationFailed, match="no extension option left"):
        contracts.exercise_extension(session, **KW, clock=clock, contract_id=w.contract.id)
    assert session.scalar(select(ChangeRecord).where(ChangeRecord.object_type == "licences",
                                                     ChangeRecord.object_id == str(w.licence.id),
                                                     ChangeRecord.action == "extend")) is not None


def test_ending_a_licence_early_denies_the_next_decision_after_its_last_day(session, clock, policy_engine):
    w = _world(session, clock)
    contracts.end_licence_early(session, **KW, clock=clock, licence_id=w.licence.id, last_day=date(2026, 6, 30),
                                reason="department closes")
    assert _decide(session, policy_engine, w.actor, date(2026, 6, 30), "early-1")[0] == "permit"
    outcome, reasons = _decide(session, policy_engine, w.actor, date(2026, 7, 1), "early-2")
    assert outcome == "deny" and reasons == ["LICENCE_NOT_IN_FORCE"]
    record = session.scalar(select(ChangeRecord).where(ChangeRecord.object_type == "licences",
                                                       ChangeRecord.action == "end_early"))
    assert record.before["ends_on"] == "2026-12-31" and record.after["ends_on"] == "2026-06-30"
    with pytest.raises(ValidationFailed):
        contracts.end_licence_early(session, **KW, clock=clock, licence_id=w.licence.id,
                                    last_day=date(2026, 8, 1), reason="later is not earlier")


def test_a_licence_outside_the_framework_term_or_above_its_ceiling_is_refused(session, clock):
    w = _world(session, clock)
    base = {"contract_id": w.contract.id, "hospital_id": w.hospital.id, "tool_id": w.tool.id}
    with pytest.raises(ValidationFailed) as exc:
        contracts.create_licence(session, **KW, clock=clock, reference="LIC-OUT", starts_on=date(2026, 6, 1),
                                 ends_on=date(2027, 1, 31), quota_limit=5, **base)
    assert "within its framework contract's term (2026-01-01 to 2026-12-31)" in exc.value.fields["ends_on"]
    contracts.amend_contract(session, **KW, clock=clock, contract_id=w.contract.id,
                             changes={"ceiling_studies": 150})
    with pytest.raises(ValidationFailed) as exc:
        contracts.create_licence(session, **KW, clock=clock, reference="LIC-BIG", starts_on=date(2026, 6, 1),
                                 ends_on=date(2026, 12, 31), quota_limit=51, **base)
    assert exc.value.fields["quota_limit"] == ("all call-offs together would commit 151 studies, above the "
                                               "framework's ceiling of 150 studies")
    ok = contracts.create_licence(session, **KW, clock=clock, reference="LIC-FITS", starts_on=date(2026, 6, 1),
                                  ends_on=date(2026, 12, 31), quota_limit=50, **base)
    with pytest.raises(ValidationFailed, match="ceiling"):
        contracts.amend_licence(session, **KW, clock=clock, licence_id=ok.id, changes={"quota_limit": 60})
    with pytest.raises(ValidationFailed, match="unbounded"):
        contracts.amend_licence(session, **KW, clock=clock, licence_id=ok.id,
                                changes={"on_quota_exhausted": "overage"})
    # A money ceiling counts quota × price: 150 studies × 1.00 fits 150.00, not 149.99.
    with pytest.raises(ValidationFailed, match="€ 149.99"):
        contracts.amend_contract(session, **KW, clock=clock, contract_id=w.contract.id,
                                 changes={"ceiling_cents": 14_999})
    # Shortening the framework under its call-offs is refused, and nothing of it is kept.
    with pytest.raises(ValidationFailed, match="LIC-"):
        contracts.amend_contract(session, **KW, clock=clock, contract_id=w.contract.id,
                                 changes={"ends_on": date(2026, 9, 30)})
    session.refresh(w.contract)
    assert w.contract.ends_on == date(2026, 12, 31) and w.contract.ceiling_cents is None


def test_onboarding_previews_then_creates_and_the_checklist_leads_to_the_first_permit(session, clock,
                                                                                    policy_engine):
    w = _world(session, clock)
    args = {"ura": "77000011", "name": "Nieuw Ziekenhuis", "starts_on": date(2026, 6, 1),
            "calloffs": [{"contract_id": w.contract.id, "quota_limit": 40}]}
    plan = hospitals.onboard_hospital(session, **KW, clock=clock, preview=True, **args)
    assert plan["preview"] and plan["organisation"]["action"] == "create"
    assert [lic["tool"] for lic in plan["licences"]] == [w.tool.slug]
    assert session.scalar(select(Organisation).where(Organisation.ura == "77000011")) is None

    plan = hospitals.onboard_hospital(session, **KW, clock=clock, **args)
    todo = {item["item"]: item["done"] for item in plan["checklist"]}
    assert todo == {"licence": True, "agreement": False, "gateway": False, "clinical_deployment": False}
    org = session.scalar(select(Organisation).where(Organisation.ura == "77000011"))
    gw, _ = gateways.register_gateway(session, **KW, clock=clock, hospital_id=org.id, name="gw-new")
    actor = Actor.for_gateway(gw, frozenset({Permission.ROUTING_DECIDE}))
    outcome, reasons = _decide(session, policy_engine, actor, date(2026, 6, 2), "onb-1")
    # Legal's and clinical governance's items are still open: no agreement, no approved deployment.
    assert outcome == "deny" and reasons == ["NO_AGREEMENT", "DEPLOYMENT_NOT_APPROVED"]
    agreements.create_agreement(
        session, **KW, clock=clock, reference="DPA-NEW", controller_id=org.id, processor_id=w.operator.id,
        purposes=["clinical-care"], effective_on=date(2026, 6, 1), ends_on=None, status="signed",
        signed_on=date(2026, 5, 20), subprocessors=[{"name": w.vendor.name, "organisation_id": w.vendor.id,
                                                     "approved_on": date(2026, 6, 1)}])
    make_deployment(session, clock, hospital_id=org.id, tool_id=w.tool.id, version=w.version.version)
    assert _decide(session, policy_engine, actor, date(2026, 6, 2), "onb-2")[0] == "permit"


def test_offboarding_denies_the_next_decision_keeps_history_and_onboarding_again_reactivates(
        session, clock, policy_engine):
    w = _world(session, clock)
    from registry.auth.tokens import issue_gateway_token

    issue_gateway_token(session, clock=clock, gateway=w.gateway, scope="routing:decide", ttl=600)
    preview = hospitals.offboard_hospital(session, **KW, clock=clock, ura=w.hospital.ura, reason="leaves",
                                          preview=True)
    assert preview["licences_ended"] == [w.licence.reference] and preview["gateways_revoked"] == [w.gateway.name]
    session.refresh(w.hospital)
    assert w.hospital.status == "active"  # a preview changes nothing

    plan = hospitals.offboard_hospital(session, **KW, clock=clock, ura=w.hospital.ura, reason="leaves",
                                       last_day=date(2026, 6, 1))
    assert plan["agreements_terminating"] == [w.agreement.reference]
    for row in (w.hospital, w.licence, w.gateway, w.agreement):
        session.refresh(row)
    assert (w.hospital.status, w.licence.status, w.gateway.status) == ("offboarded", "terminated", "revoked")
    assert w.licence.ends_on == date(2026, 6, 1) and w.agreement.ends_on == date(2026, 6, 1)
    assert session.scalar(select(AccessToken.id).where(AccessToken.gateway_id == w.gateway.id,
                                                       AccessToken.revoked_at.is_(None))) is None
    outcome, reasons = _decide(session, policy_engine, w.actor, date(2026, 6, 2), "off-1")
    assert outcome == "deny" and {"HOSPITAL_INACTIVE", "GATEWAY_INACTIVE"} <= set(reasons)

    again = hospitals.onboard_hospital(session, **KW, clock=clock, ura=w.hospital.ura, name=w.hospital.name,
                                       calloffs=[], starts_on=date(2026, 7, 1))
    assert again["organisation"]["action"] == "reactivate"
    actions = list(session.scalars(select(ChangeRecord.action).where(
        ChangeRecord.object_type == "organisations", ChangeRecord.object_id == str(w.hospital.id))
        .order_by(ChangeRecord.id)))
    assert actions == ["create", "offboard", "reactivate"]
    assert session.scalar(select(Licence).where(Licence.id == w.licence.id)).status == "terminated"


def test_an_extension_options_notice_period_is_a_reminder_until_it_is_exercised(session, clock):
    """Notice periods with reminders: the next unexercised option's deadline (the end less its
    notice days) is on the dashboard from 90 days before, marked within 30 days and overdue."""
    from registry.services.attention import needs_attention

    w = _world(session, clock)  # the contract ends on 2026-12-31
    contracts.amend_contract(session, **KW, clock=clock, contract_id=w.contract.id,
                             changes={"extension_options": [{"months": 12, "notice_days": 90},
                                                            {"months": 6, "notice_days": 30}]})

    def notices(on: date) -> list[tuple[str, int, int, date, int]]:
        at = FixedClock(datetime(on.year, on.month, on.day, 10, 0, tzinfo=timezone.utc))
        return [(n.contract.reference, n.option, n.months, n.decide_by, n.days_left)
                for n in needs_attention(session, actor=SYSTEM, clock=at).notices
                if n.contract.id == w.contract.id]

    assert notices(date(2026, 6, 1)) == []  # 2026-10-02 is more than 90 days away
    assert notices(date(2026, 9, 15)) == [(w.contract.reference, 1, 12, date(2026, 10, 2), 17)]
    assert notices(date(2026, 10, 10))[0][4] == -8  # the deadline passed; the contract still runs
    contracts.exercise_extension(session, **KW, clock=clock, contract_id=w.contract.id)
    # The next option runs from the new end (2027-12-31) less 30 days.
    assert notices(date(2027, 11, 1)) == [(w.contract.reference, 2, 6, date(2027, 12, 1), 30)]
    contracts.exercise_extension(session, **KW, clock=clock, contract_id=w.contract.id)
    assert notices(date(2028, 5, 1)) == []  # no option left
