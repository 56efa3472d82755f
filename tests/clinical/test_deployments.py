"""Clinical deployments as a routing condition (AI Act Art. 26): the go-live approval, its four-eyes
rule, and DEPLOYMENT_NOT_APPROVED on the very next decision, in the bundle and in the matrix."""

from __future__ import annotations

from datetime import date

import pytest

from registry.actor import Actor
from registry.services import deployments as service
from registry.services import decisions, incidents
from registry.services.bundle import routable_tools
from registry.services.errors import Conflict, ValidationFailed
from registry.services.matrix import evaluate_cell
from tests.factories import CLINICAL_OWNER, SYSTEM, child_hand, complete_checklist, make_world

OTHER = Actor.system("tests-second-owner")


def _decide(session, clock, policy_engine, world, key):  # noqa: ANN001, ANN202
    return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                            request=child_hand(world.tool.slug, study_key=key)).decision


def _codes(decision) -> list[str]:  # noqa: ANN001
    return [r["code"] for r in decision.reasons]


def test_cannot_approve_incomplete(session, clock):
    w = make_world(session, clock, deployment=None)
    checklist = complete_checklist([w.version.version])
    del checklist["acceptance_date"], checklist["art49_applicable"]
    dep = service.create_deployment(session, actor=SYSTEM, clock=clock, hospital_id=w.hospital.id,
                                    tool_id=w.tool.id, **checklist)
    with pytest.raises(ValidationFailed) as exc:
        service.approve_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=dep.id)
    assert exc.value.fields == {"checklist": "missing: acceptance_test, art49"}
    assert dep.status == "draft"


def test_cannot_approve_what_one_filled_in(session, clock):
    w = make_world(session, clock, deployment="draft")
    with pytest.raises(Conflict):
        service.approve_deployment(session, actor=SYSTEM, clock=clock, deployment_id=w.deployment.id)
    # Whoever changes a single item afterwards is a preparer too.
    service.update_checklist(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id,
                             changes={"monitoring_plan": "weekly"})
    with pytest.raises(Conflict):
        service.approve_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id)
    approved = service.approve_deployment(session, actor=OTHER, clock=clock, deployment_id=w.deployment.id)
    assert approved.status == "approved" and approved.approved_by == OTHER.ref


def test_checklist_values_are_checked(session, clock):
    w = make_world(session, clock, deployment=None)
    with pytest.raises(ValidationFailed) as exc:
        service.create_deployment(session, actor=SYSTEM, clock=clock, hospital_id=w.hospital.id,
                                  tool_id=w.tool.id, versions=["9.9"], ifu_sha256="xyz",
                                  overseers=[{"name": "A", "trained_on": "not a date"}],
                                  acceptance_agreement_pct=140)
    assert set(exc.value.fields) == {"versions", "ifu_sha256", "overseers", "acceptance_agreement_pct"}


def test_routing_follows_the_deployment(session, clock, policy_engine):
    """No deployment → deny; incomplete → deny; approved → permit; suspended → deny; resumed → permit."""
    w = make_world(session, clock, deployment=None)
    first = _decide(session, clock, policy_engine, w, "d-1")
    assert first.outcome == "deny" and _codes(first) == ["DEPLOYMENT_NOT_APPROVED"]
    assert "has no clinical deployment" in first.reasons[0]["detail"]

    checklist = complete_checklist([w.version.version])
    del checklist["works_council_informed_on"]
    dep = service.create_deployment(session, actor=SYSTEM, clock=clock, hospital_id=w.hospital.id,
                                    tool_id=w.tool.id, **checklist)
    incomplete = _decide(session, clock, policy_engine, w, "d-2")
    assert _codes(incomplete) == ["DEPLOYMENT_NOT_APPROVED"]
    assert "incomplete (missing: works_council)" in incomplete.reasons[0]["detail"]
    assert incomplete.reasons[0]["ref"] == f"deployment:{dep.id}"

    service.update_checklist(session, actor=SYSTEM, clock=clock, deployment_id=dep.id,
                             changes={"works_council_informed_on": date(2026, 1, 2)})
    draft = _decide(session, clock, policy_engine, w, "d-3")
    assert "not approved for clinical use (draft)" in draft.reasons[0]["detail"]

    service.approve_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=dep.id)
    assert _decide(session, clock, policy_engine, w, "d-4").outcome == "permit"

    service.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=dep.id,
                               reason="drift seen in monitoring")
    suspended = _decide(session, clock, policy_engine, w, "d-5")
    assert _codes(suspended) == ["DEPLOYMENT_NOT_APPROVED"]
    assert "suspended since 2026-06-01: drift seen in monitoring" in suspended.reasons[0]["detail"]

    service.resume_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=dep.id,
                              reason="vendor fix verified")
    assert _decide(session, clock, policy_engine, w, "d-6").outcome == "permit"

    # A change after approval sends it back to draft: what is on file must be approved again.
    service.update_checklist(session, actor=SYSTEM, clock=clock, deployment_id=dep.id,
                             changes={"monitoring_plan": "weekly"})
    assert _decide(session, clock, policy_engine, w, "d-7").outcome == "deny"


def test_a_version_not_covered_is_refused(session, clock, policy_engine):
    from registry.services import tools

    w = make_world(session, clock)
    tools.create_tool_version(session, actor=SYSTEM, clock=clock, tool_id=w.tool.id, version="2.0",
                              intended_use=w.version.intended_use, certificate_expires_on=date(2030, 1, 1))
    d = decisions.decide(session, actor=w.actor, clock=clock, engine=policy_engine,
                         request=child_hand(w.tool.slug, study_key="v-2", tool_version="2.0")).decision
    assert _codes(d) == ["DEPLOYMENT_NOT_APPROVED"]
    assert "does not cover" in d.reasons[0]["detail"]


def test_other_purposes_need_no_deployment(session, clock, policy_engine):
    w = make_world(session, clock, deployment=None, purposes=("clinical-care", "research"))
    d = decisions.decide(session, actor=w.actor, clock=clock, engine=policy_engine,
                         request=child_hand(w.tool.slug, study_key="r-1", purpose="research")).decision
    assert d.outcome == "permit"


def test_bundle_and_matrix_show_the_deployment(session, clock, policy_engine):
    w = make_world(session, clock, deployment="draft")
    day = date(2026, 6, 1)
    assert routable_tools(session, engine=policy_engine, gateway=w.gateway, hospital=w.hospital,
                          day=day, offline_allowance=10) == []
    cell = evaluate_cell(session, engine=policy_engine, hospital=w.hospital, tool=w.tool,
                         purpose="clinical-care", on=day)
    assert cell.state == "deny" and [r["code"] for r in cell.reasons] == ["DEPLOYMENT_NOT_APPROVED"]
    service.approve_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id)
    tools_ = routable_tools(session, engine=policy_engine, gateway=w.gateway, hospital=w.hospital,
                            day=day, offline_allowance=10)
    assert [t["purposes"] for t in tools_] == [["clinical-care"]]
    assert evaluate_cell(session, engine=policy_engine, hospital=w.hospital, tool=w.tool,
                         purpose="clinical-care", on=day).state == "permit"


def test_a_hospitals_clinical_owner_sees_and_approves_only_their_own(session, clock):
    from registry.services.errors import NotFound
    from registry.services.users import create_user

    w = make_world(session, clock, deployment="draft")
    other = make_world(session, clock, deployment="draft")
    user, _ = create_user(session, actor=SYSTEM, clock=clock, email="owner@h.example", roles=["clinical_owner"],
                          password="long enough pw", organisation_id=w.hospital.id)
    owner = Actor.for_user(user)
    with pytest.raises(NotFound):
        service.approve_deployment(session, actor=owner, clock=clock, deployment_id=other.deployment.id)
    assert service.approve_deployment(session, actor=owner, clock=clock,
                                      deployment_id=w.deployment.id).status == "approved"


def test_a_serious_incident_suspends_on_the_next_decision_and_bundle_and_opens_its_duties(
        session, clock, policy_engine):
    w = make_world(session, clock)
    day = date(2026, 6, 1)
    assert _decide(session, clock, policy_engine, w, "i-1").outcome == "permit"
    assert routable_tools(session, engine=policy_engine, gateway=w.gateway, hospital=w.hospital,
                          day=day, offline_allowance=10)
    incident = incidents.report_incident(
        session, actor=CLINICAL_OWNER, clock=clock, kind="serious_incident",
        severity="death_or_serious_deterioration", hospital_id=w.hospital.id, tool_id=w.tool.id,
        description="missed finding with serious deterioration", occurred_on=date(2026, 5, 30),
        aware_on=date(2026, 5, 31), action="suspend_deployment")
    after = _decide(session, clock, policy_engine, w, "i-2")
    assert _codes(after) == ["DEPLOYMENT_NOT_APPROVED"]
    assert incident.reference in after.reasons[0]["detail"]
    assert routable_tools(session, engine=policy_engine, gateway=w.gateway, hospital=w.hospital,
                          day=day, offline_allowance=10) == []
    duties = {d.duty: d for d in incidents.duties_of(session, incident)}
    assert {k: v.due_on for k, v in duties.items()} == {
        "provider_informed": date(2026, 6, 1), "vigilance_report": date(2026, 6, 10),
        "authority_informed": date(2026, 6, 2)}
    assert "MDR Art. 87" in duties["vigilance_report"].legal_basis
    # Closed only by recording who was told what and when.
    with pytest.raises(ValidationFailed):
        incidents.record_duty(session, actor=CLINICAL_OWNER, clock=clock, duty_id=duties["provider_informed"].id,
                              told_whom="", told_what="", told_on=date(2026, 6, 1))
    assert duties["provider_informed"].closed_at is None
    incidents.record_duty(session, actor=CLINICAL_OWNER, clock=clock, duty_id=duties["provider_informed"].id,
                          told_whom="vendor vigilance desk", told_what="facts and version", told_on=date(2026, 6, 1))
    assert duties["provider_informed"].closed_at is not None


@pytest.mark.parametrize("severity,days", [("public_health_threat", 2), ("death_or_serious_deterioration", 10),
                                           ("other", 15)])
def test_vigilance_periods(session, clock, severity, days):
    w = make_world(session, clock)
    incident = incidents.report_incident(session, actor=SYSTEM, clock=clock, kind="serious_incident",
                                         severity=severity, hospital_id=w.hospital.id, tool_id=w.tool.id,
                                         description="x", occurred_on=date(2026, 5, 1), aware_on=date(2026, 5, 1))
    due = {d.duty: d.due_on for d in incidents.duties_of(session, incident)}
    assert (due["vigilance_report"] - date(2026, 5, 1)).days == days


def test_overdue_duties_are_listed(session, clock):
    w = make_world(session, clock)
    incidents.report_incident(session, actor=SYSTEM, clock=clock, kind="risk", hospital_id=w.hospital.id,
                              tool_id=w.tool.id, description="x", occurred_on=date(2026, 5, 1),
                              aware_on=date(2026, 5, 1))
    overdue = incidents.overdue_duties(session, actor=SYSTEM, clock=clock)
    assert {(d.duty, i.hospital_id) for d, i in overdue} >= {("provider_informed", w.hospital.id),
                                                              ("authority_informed", w.hospital.id)}


def test_suspending_a_version_stops_it_for_every_hospital(session, clock, policy_engine):
    w = make_world(session, clock)
    incidents.report_incident(session, actor=SYSTEM, clock=clock, kind="risk", tool_id=w.tool.id,
                              tool_version_id=w.version.id, description="vendor recall",
                              occurred_on=date(2026, 6, 1), aware_on=date(2026, 6, 1), action="suspend_version")
    assert _codes(_decide(session, clock, policy_engine, w, "s-1")) == ["TOOL_SUSPENDED"]


def test_a_hospital_cannot_suspend_a_version_for_everyone(session, clock):
    from registry.services.users import create_user

    w = make_world(session, clock)
    user, _ = create_user(session, actor=SYSTEM, clock=clock, email="o2@h.example", roles=["clinical_owner"],
                          password="long enough pw", organisation_id=w.hospital.id)
    with pytest.raises(ValidationFailed) as exc:
        incidents.report_incident(session, actor=Actor.for_user(user), clock=clock, kind="risk",
                                  hospital_id=w.hospital.id, tool_id=w.tool.id, tool_version_id=w.version.id,
                                  description="x", occurred_on=date(2026, 6, 1), aware_on=date(2026, 6, 1),
                                  action="suspend_version")
    assert "action" in exc.value.fields


def test_field_safety_notice_links_the_deployments_it_affects(session, clock):
    from registry.scope import Scope

    w = make_world(session, clock)
    fsn = incidents.record_field_safety_notice(session, actor=SYSTEM, clock=clock, reference="FSN-T-1",
                                               tool_id=w.tool.id, versions=[w.version.version],
                                               title="Update required", issued_on=date(2026, 5, 1))
    assert [d.id for d in incidents.affected_deployments(session, fsn, Scope("national"))] == [w.deployment.id]


def test_a_suspension_reaches_decisions_served_from_the_in_memory_terms(session, clock, policy_engine):
    """The deployment is part of the cached terms: its change bumps the terms revision, so a
    process-wide cache that already holds it answers the very next decision with the new state."""
    from registry.services.terms_cache import TermsCache

    w = make_world(session, clock)
    cache = TermsCache()

    def decide(key: str):  # noqa: ANN202
        return decisions.decide(session, actor=w.actor, clock=clock, engine=policy_engine, terms=cache,
                                request=child_hand(w.tool.slug, study_key=key)).decision

    assert decide("c-1").outcome == "permit"
    assert decide("c-2").outcome == "permit"  # served from the cache
    service.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=w.deployment.id,
                               reason="risk")
    assert _codes(decide("c-3")) == ["DEPLOYMENT_NOT_APPROVED"]
