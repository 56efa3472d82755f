"""Incidents and the suspend switch (AI Act Art. 26(5), MDR Art. 87), and field-safety notices.

Reporting an incident can suspend the hospital's deployment, or the tool version for every
hospital, in the same transaction: the next decision and the next bundle already see it. A
serious incident opens its legal duties as open items, each closed only by recording who was told
what and when; those past their date are overdue on the dashboard.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.changes import ChangeRecord
from registry.db.clinical import Deployment, FieldSafetyNotice, Incident, IncidentDuty, IncidentKind
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.deployment import SHA256_HEX, VIGILANCE_DAYS, incident_duties
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.scope import can_see, restrict, scope_of
from registry.services import deployments as deployment_service
from registry.services import webhooks
from registry.services._rows import create_row, update_row
from registry.services.changes import object_ref
from registry.services.errors import NotFound, ValidationFailed

ACTIONS = ("none", "suspend_deployment", "suspend_version")
# The conclusion is kept as the closing change record's message (no column of its own).
CONCLUSION_MAX = 1000
P = Permission.INCIDENTS_WRITE


def report_incident(session: Session, *, actor: Actor, clock: Clock, kind: str, tool_id: int,
                    description: str, occurred_on: date, aware_on: date, action: str = "none",
                    hospital_id: int | None = None, tool_version_id: int | None = None,
                    severity: str | None = None) -> Incident:
    """Record an incident, open its duties, and (if asked) suspend at once."""
    actor.require(P)
    scope = scope_of(session, actor)
    errors: dict[str, str] = {}
    if kind not in {k.value for k in IncidentKind}:
        errors["kind"] = "malfunction, risk or serious_incident"
    if kind == "serious_incident" and (severity or "other") not in VIGILANCE_DAYS:
        errors["severity"] = "one of " + ", ".join(VIGILANCE_DAYS)
    if action not in ACTIONS:
        errors["action"] = "one of " + ", ".join(ACTIONS)
    if not description.strip():
        errors["description"] = "is required"
    if aware_on < occurred_on:
        errors["aware_on"] = "cannot be before the incident"
    tool = session.get(Tool, tool_id)
    if tool is None:
        errors["tool_id"] = "no such tool"
    hospital = session.get(Organisation, hospital_id) if hospital_id is not None else None
    if hospital_id is not None and (hospital is None or hospital.kind != "hospital"
                                    or not can_see(session, scope, Organisation, hospital)):
        errors["hospital_id"] = "not a hospital you work for"
    if hospital_id is None and not scope.national:
        errors["hospital_id"] = "is required"
    version = session.get(ToolVersion, tool_version_id) if tool_version_id is not None else None
    if tool_version_id is not None and (version is None or version.tool_id != tool_id):
        errors["tool_version_id"] = "not a version of this tool"
    deployment = None
    if hospital is not None and tool is not None:
        deployment = session.scalar(select(Deployment).where(Deployment.hospital_id == hospital.id,
                                                             Deployment.tool_id == tool.id))
    if action == "suspend_deployment" and deployment is None:
        errors["action"] = "this hospital has no deployment of this tool to suspend"
    if action == "suspend_version":
        if version is None:
            errors["tool_version_id"] = "name the version to suspend"
        elif not scope.national:
            # One hospital stops its own use; stopping a version everywhere is national staff's call.
            errors["action"] = "only national staff suspend a version for every hospital"
    if errors:
        raise ValidationFailed("invalid incident", errors)
    incident = Incident(
        reference=f"INC-{aware_on:%Y%m%d}-{secrets.token_hex(3).upper()}", kind=kind,
        severity=(severity or "other") if kind == "serious_incident" else None,
        hospital_id=hospital_id, deployment_id=deployment.id if deployment else None, tool_id=tool_id,
        tool_version_id=tool_version_id, description=description.strip()[:4000], occurred_on=occurred_on,
        aware_on=aware_on, action=action, reported_by=actor.ref)
    create_row(session, actor=actor, clock=clock, permission=P, row=incident, message=f"{kind} reported")
    for duty, basis, due in incident_duties(kind, incident.severity, aware_on):
        create_row(session, actor=actor, clock=clock, permission=P,
                   row=IncidentDuty(incident_id=incident.id, duty=duty, legal_basis=basis, due_on=due))
    reason = f"incident {incident.reference}: {description.strip()[:200]}"
    if action == "suspend_deployment":
        deployment_service.suspend_deployment(session, actor=actor, clock=clock, deployment_id=deployment.id,
                                              reason=reason, permission=P)
    elif action == "suspend_version" and version.status != "suspended":
        update_row(session, actor=actor, clock=clock, permission=P, row=version,
                   changes={"status": "suspended", "status_reason": reason[:500],
                            "status_since": term_date(clock.now())}, action="suspend", message=reason[:500])
        webhooks.enqueue(session, clock=clock, event="tool_version.suspended",
                         data={"tool": tool.slug, "version": version.version, "reason": reason})
    return incident


def record_duty(session: Session, *, actor: Actor, clock: Clock, duty_id: int, told_whom: str,
                told_what: str, told_on: date) -> IncidentDuty:
    """Close an open item: who was told what, and when (nothing less closes it)."""
    actor.require(P)
    duty = session.get(IncidentDuty, duty_id)
    incident = session.get(Incident, duty.incident_id) if duty is not None else None
    if incident is None or not can_see(session, scope_of(session, actor), Incident, incident):
        raise NotFound(f"no incident duty {duty_id}")
    errors = {}
    if not told_whom.strip():
        errors["told_whom"] = "is required"
    if not told_what.strip():
        errors["told_what"] = "is required"
    if told_on > term_date(clock.now()):
        errors["told_on"] = "cannot be in the future"
    if duty.closed_at is not None:
        errors["duty"] = "already recorded"
    if errors:
        raise ValidationFailed("invalid record", errors)
    return update_row(session, actor=actor, clock=clock, permission=P, row=duty,
                      changes={"told_whom": told_whom.strip()[:300], "told_what": told_what.strip()[:2000],
                               "told_on": told_on, "recorded_by": actor.ref, "closed_at": clock.now()},
                      action="record", message=f"{duty.duty}: told {told_whom.strip()[:100]}")


def get_incident(session: Session, *, actor: Actor, incident_id: int) -> Incident:
    """The incident, if the actor may see it (otherwise it does not exist for them)."""
    incident = session.get(Incident, incident_id)
    if incident is None or not can_see(session, scope_of(session, actor), Incident, incident):
        raise NotFound(f"no incident {incident_id}")
    return incident


def close_incident(session: Session, *, actor: Actor, clock: Clock, incident_id: int,
                   conclusion: str) -> Incident:
    """Close an incident with what was concluded; who closed it and when are its change record.

    Only once every legal duty is recorded: closing must not hide an open obligation. Closing
    lifts no suspension: resuming a deployment or reinstating a version stays its own action, by
    whoever may take it, since the conclusion alone does not make the tool safe to use again.
    """
    actor.require(P)
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    errors = {}
    text = conclusion.strip()
    if not text:
        errors["conclusion"] = "say what was concluded"
    elif len(text) > CONCLUSION_MAX:
        errors["conclusion"] = f"at most {CONCLUSION_MAX} characters"
    if incident.status == "closed":
        errors["status"] = "already closed"
    open_duties = [d.duty for d in duties_of(session, incident) if d.closed_at is None]
    if open_duties:
        errors["duties"] = "record these duties first: " + ", ".join(open_duties)
    if errors:
        raise ValidationFailed("cannot close the incident", errors)
    return update_row(session, actor=actor, clock=clock, permission=P, row=incident,
                      changes={"status": "closed"}, action="close", message=text)


def closure_of(session: Session, incident: Incident) -> dict[str, Any] | None:
    """Who closed the incident, when, and what they concluded (from its change record)."""
    if incident.status != "closed":
        return None
    object_type, object_id = object_ref(incident)
    record = session.scalar(select(ChangeRecord).where(
        ChangeRecord.object_type == object_type, ChangeRecord.object_id == object_id,
        ChangeRecord.action == "close").order_by(ChangeRecord.created_at.desc(), ChangeRecord.id.desc()).limit(1))
    if record is None:
        return None
    return {"by": record.actor, "by_label": record.actor_label, "at": record.created_at,
            "conclusion": record.message}


def duties_of(session: Session, incident: Incident) -> list[IncidentDuty]:
    return list(session.scalars(select(IncidentDuty).where(IncidentDuty.incident_id == incident.id)
                                .order_by(IncidentDuty.due_on, IncidentDuty.id)))


def overdue_duties(session: Session, *, actor: Actor, clock: Clock) -> list[tuple[IncidentDuty, Incident]]:
    """Open items past their date, for the incidents the actor may see."""
    if not actor.can(Permission.DEPLOYMENTS_READ):
        return []
    today = term_date(clock.now())
    stmt = (select(IncidentDuty, Incident).join(Incident, Incident.id == IncidentDuty.incident_id)
            .where(IncidentDuty.closed_at.is_(None), IncidentDuty.due_on < today)
            .order_by(IncidentDuty.due_on))
    return [tuple(r) for r in session.execute(restrict(stmt, scope_of(session, actor), Incident))]


def remind_due(session: Session, *, clock: Clock) -> int:
    """Push ``incident.deadline_due`` once for every open duty due today or earlier."""
    today = term_date(clock.now())
    n = 0
    for duty, incident in session.execute(
            select(IncidentDuty, Incident).join(Incident, Incident.id == IncidentDuty.incident_id)
            .where(IncidentDuty.closed_at.is_(None), IncidentDuty.reminded_at.is_(None),
                   IncidentDuty.due_on <= today)):
        webhooks.enqueue(session, clock=clock, event="incident.deadline_due",
                         data={"incident": incident.reference, "duty": duty.duty,
                               "due_on": duty.due_on.isoformat(), "legal_basis": duty.legal_basis},
                         organisation_id=incident.hospital_id)
        duty.reminded_at = clock.now()
        n += 1
    session.flush()
    return n


def record_field_safety_notice(session: Session, *, actor: Actor, clock: Clock, reference: str, tool_id: int,
                               versions: list[str], title: str, issued_on: date, summary: str = "",
                               document_sha256: str | None = None) -> FieldSafetyNotice:
    """A vendor's field-safety notice against the versions it concerns; the deployments it affects
    are those covering any of them (:func:`affected_deployments`)."""
    actor.require(P)
    known = set(session.scalars(select(ToolVersion.version).where(ToolVersion.tool_id == tool_id)))
    errors = {}
    if not reference.strip():
        errors["reference"] = "is required"
    if not title.strip():
        errors["title"] = "is required"
    if not versions or set(versions) - known:
        errors["versions"] = "one or more versions of this tool"
    if document_sha256 and not SHA256_HEX.match(document_sha256.lower()):
        errors["document_sha256"] = "64 hexadecimal characters (SHA-256)"
    if errors:
        raise ValidationFailed("invalid field-safety notice", errors)
    fsn = FieldSafetyNotice(reference=reference.strip(), tool_id=tool_id, versions=sorted(set(versions)),
                            title=title.strip(), issued_on=issued_on, summary=summary.strip(),
                            document_sha256=document_sha256.lower() if document_sha256 else None)
    return create_row(session, actor=actor, clock=clock, permission=P, row=fsn)


def affected_deployments(session: Session, fsn: FieldSafetyNotice, scope: Any) -> list[Deployment]:
    visible = {d.id for d in session.scalars(restrict(select(Deployment).where(
        Deployment.tool_id == fsn.tool_id), scope, Deployment))}
    return [d for d in deployment_service.deployments_of_tool(session, fsn.tool_id, fsn.versions)
            if d.id in visible]
