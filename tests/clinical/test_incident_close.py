"""Closing an incident: only with a conclusion and once every legal duty is recorded; who closed it,
when and what was concluded stay in its history; a suspension it made stays in force."""

from __future__ import annotations

from datetime import date

import pytest

from registry.actor import Actor, PermissionDenied
from registry.permissions import Permission
from registry.services import decisions, incidents
from registry.services.errors import NotFound, ValidationFailed
from tests.factories import CLINICAL_OWNER, child_hand, make_world


def _report(session, clock, w, **kw):  # noqa: ANN001, ANN202
    return incidents.report_incident(session, actor=CLINICAL_OWNER, clock=clock, kind=kw.pop("kind", "risk"),
                                     hospital_id=w.hospital.id, tool_id=w.tool.id, description="drift seen",
                                     occurred_on=date(2026, 5, 30), aware_on=date(2026, 5, 31), **kw)


def _record_all(session, clock, incident):  # noqa: ANN001, ANN202
    for duty in incidents.duties_of(session, incident):
        incidents.record_duty(session, actor=CLINICAL_OWNER, clock=clock, duty_id=duty.id, told_whom="vendor",
                              told_what="the facts", told_on=date(2026, 6, 1))


def test_an_incident_closes_with_its_conclusion_once_its_duties_are_recorded(session, clock):
    w = make_world(session, clock)
    incident = _report(session, clock, w)
    with pytest.raises(ValidationFailed) as exc:
        incidents.close_incident(session, actor=CLINICAL_OWNER, clock=clock, incident_id=incident.id,
                                 conclusion="false alarm")
    assert "provider_informed" in exc.value.fields["duties"] and incident.status == "open"
    _record_all(session, clock, incident)
    with pytest.raises(ValidationFailed) as exc:
        incidents.close_incident(session, actor=CLINICAL_OWNER, clock=clock, incident_id=incident.id,
                                 conclusion="   ")
    assert set(exc.value.fields) == {"conclusion"}
    assert incidents.closure_of(session, incident) is None

    clock.advance(hours=2)
    closed = incidents.close_incident(session, actor=CLINICAL_OWNER, clock=clock, incident_id=incident.id,
                                      conclusion="  calibration drift; vendor patch verified  ")
    assert closed.status == "closed"
    assert incidents.closure_of(session, closed) == {
        "by": CLINICAL_OWNER.ref, "by_label": CLINICAL_OWNER.label, "at": clock.now(),
        "conclusion": "calibration drift; vendor patch verified"}
    with pytest.raises(ValidationFailed) as exc:
        incidents.close_incident(session, actor=CLINICAL_OWNER, clock=clock, incident_id=incident.id,
                                 conclusion="again")
    assert "status" in exc.value.fields


def test_closing_lifts_no_suspension(session, clock, policy_engine):
    w = make_world(session, clock)
    incident = _report(session, clock, w, action="suspend_deployment")
    _record_all(session, clock, incident)
    incidents.close_incident(session, actor=CLINICAL_OWNER, clock=clock, incident_id=incident.id,
                             conclusion="cause found")
    session.refresh(w.deployment)
    assert w.deployment.status == "suspended"
    decision = decisions.decide(session, actor=w.actor, clock=clock, engine=policy_engine,
                                request=child_hand(w.tool.slug, study_key="c-1")).decision
    assert [r["code"] for r in decision.reasons] == ["DEPLOYMENT_NOT_APPROVED"]


def test_closing_needs_the_permission_and_sight_of_the_incident(session, clock):
    from registry.services.users import create_user

    w, other = make_world(session, clock), make_world(session, clock)
    incident = _report(session, clock, w)
    _record_all(session, clock, incident)
    reader = Actor(kind="system", id="tests-reader", label="tests-reader", roles=("reader",),
                   permissions=frozenset({Permission.DEPLOYMENTS_READ}))
    with pytest.raises(PermissionDenied):
        incidents.close_incident(session, actor=reader, clock=clock, incident_id=incident.id, conclusion="x")
    user, _ = create_user(session, actor=CLINICAL_OWNER, clock=clock, email="owner@other.example",
                          roles=["clinical_owner"], password="long enough pw", organisation_id=other.hospital.id)
    with pytest.raises(NotFound):
        incidents.close_incident(session, actor=Actor.for_user(user), clock=clock, incident_id=incident.id,
                                 conclusion="not mine")
    assert incident.status == "open"
