"""Staff API for clinical governance: deployments (checklist, go-live approval, suspend, resume),
incidents and their duties, field-safety notices, webhook subscriptions. Reads are the generic
``GET /api/v1/<objects>`` routes; each write here calls one service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import jsonify
from pydantic import BaseModel, Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services import deployments as deployment_service
from registry.services import incidents as incident_service
from registry.services import webhooks as webhook_service
from registry.services.errors import NotFound
from registry.validation import Day
from registry.workspace.base import Names
from registry.workspace.types.clinical import (DeploymentOut, FieldSafetyNoticeOut, IncidentOut,
                                               _fsn_public, deployment_public, incident_public)

Text = Annotated[str, Field(max_length=500)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]


class OverseerIn(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Annotated[str, Field(max_length=120)] = ""
    trained_on: Day | None = None


class ChecklistIn(_Strict):
    """The deployer's checklist (AI Act Art. 26); on PATCH only the fields named change."""

    versions: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] | None = None
    ifu_document: Annotated[str, Field(max_length=300)] | None = None
    ifu_sha256: Sha256 | None = None
    overseers: Annotated[list[OverseerIn], Field(max_length=50)] | None = None
    dpia_reference: Annotated[str, Field(max_length=120)] | None = None
    dpia_date: Day | None = None
    works_council_informed_on: Day | None = None
    acceptance_cases: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    acceptance_agreement_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    acceptance_date: Day | None = None
    acceptance_by: Annotated[str, Field(max_length=200)] | None = None
    monitoring_plan: Annotated[str, Field(max_length=2000)] | None = None
    art27_applicable: bool | None = None
    art49_applicable: bool | None = None


class DeploymentIn(ChecklistIn):
    hospital_ura: Annotated[str, Field(pattern=r"^[0-9]{8}$")]
    tool: Annotated[str, Field(min_length=1, max_length=64)]


class ReasonIn(_Strict):
    reason: Text = ""


class IncidentIn(_Strict):
    kind: Literal["malfunction", "risk", "serious_incident"]
    severity: Literal["public_health_threat", "death_or_serious_deterioration", "other"] | None = None
    hospital_ura: Annotated[str, Field(pattern=r"^[0-9]{8}$")] | None = None
    tool: Annotated[str, Field(min_length=1, max_length=64)]
    tool_version: Annotated[str, Field(max_length=64)] | None = None
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    occurred_on: Day
    aware_on: Day
    action: Literal["none", "suspend_deployment", "suspend_version"] = "none"


class DutyRecordIn(_Strict):
    told_whom: Annotated[str, Field(min_length=1, max_length=300)]
    told_what: Annotated[str, Field(min_length=1, max_length=2000)]
    told_on: Day


class CloseIn(_Strict):
    conclusion: Annotated[str, Field(min_length=1, max_length=1000)]


class NoticeIn(_Strict):
    reference: Annotated[str, Field(min_length=1, max_length=80)]
    tool: Annotated[str, Field(min_length=1, max_length=64)]
    versions: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=50)]
    title: Annotated[str, Field(min_length=1, max_length=300)]
    issued_on: Day
    summary: Annotated[str, Field(max_length=4000)] = ""
    document_sha256: Sha256 | None = None


class WebhookIn(_Strict):
    url: Annotated[str, Field(min_length=1, max_length=500)]
    events: Annotated[list[Literal[webhook_service.EVENTS]], Field(min_length=1, max_length=10)]  # type: ignore[valid-type]
    hospital_ura: Annotated[str, Field(pattern=r"^[0-9]{8}$")] | None = None


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    organisation_id: int | None
    active: bool
    secret: str | None = None  # only in the answer that creates it
    deliveries: list[dict[str, Any]] = []


def _hospital(ura: str | None) -> int | None:
    from sqlalchemy import select

    from registry.db.organisations import Organisation
    from registry.services.errors import ValidationFailed

    if ura is None:
        return None
    org_id = db().scalar(select(Organisation.id).where(Organisation.ura == ura, Organisation.kind == "hospital"))
    if org_id is None:
        raise ValidationFailed("unknown hospital", {"hospital_ura": "no hospital with this URA"})
    return org_id


def _tool(slug: str, version: str | None = None) -> tuple[int, int | None]:
    from sqlalchemy import select

    from registry.db.tools import Tool, ToolVersion
    from registry.services.errors import ValidationFailed

    tool_id = db().scalar(select(Tool.id).where(Tool.slug == slug))
    if tool_id is None:
        raise ValidationFailed("unknown tool", {"tool": "no tool with this identifier"})
    if version is None:
        return tool_id, None
    version_id = db().scalar(select(ToolVersion.id).where(ToolVersion.tool_id == tool_id,
                                                           ToolVersion.version == version))
    if version_id is None:
        raise ValidationFailed("unknown version", {"tool_version": "no such version of this tool"})
    return tool_id, version_id


def _checklist(body: ChecklistIn) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True, exclude={"hospital_ura", "tool"})
    if "overseers" in values and values["overseers"] is not None:
        values["overseers"] = [{**o, "trained_on": o["trained_on"].isoformat() if o.get("trained_on") else None}
                               for o in values["overseers"]]
    return values


def _deployment(dep) -> Any:  # noqa: ANN001
    return jsonify(deployment_public(dep, Names(db())))


@blueprint.post("/deployments")
@document("Record a deployment (draft) with its checklist", "Staff: deployments", body=DeploymentIn,
          response=DeploymentOut)
@requires(Permission.DEPLOYMENTS_WRITE)
def deployment_create_api():
    body = parse_body(DeploymentIn)
    session = db()
    dep = deployment_service.create_deployment(session, actor=current_actor(), clock=registry().clock,
                                               hospital_id=_hospital(body.hospital_ura),
                                               tool_id=_tool(body.tool)[0], **_checklist(body))
    session.commit()
    return _deployment(dep), 201


@blueprint.patch("/deployments/<key>")
@document("Change the checklist (an approved deployment goes back to draft)", "Staff: deployments",
          body=ChecklistIn, response=DeploymentOut)
@requires(Permission.DEPLOYMENTS_WRITE)
def deployment_update_api(key: str):
    body = parse_body(ChecklistIn)
    session = db()
    dep = deployment_service.update_checklist(session, actor=current_actor(), clock=registry().clock,
                                              deployment_id=_id(key), changes=_checklist(body))
    session.commit()
    return _deployment(dep)


def _id(key: str) -> int:
    if not key.isascii() or not key.isdigit() or len(key) > 12:
        raise NotFound(f"no deployment {key[:20]}")
    return int(key)


def _transition(key: str, action: str):  # noqa: ANN202
    deployment_id = _id(key)
    body = parse_body(ReasonIn)
    session = db()
    kw = {"actor": current_actor(), "clock": registry().clock, "deployment_id": deployment_id}
    if action == "approve":
        dep = deployment_service.approve_deployment(session, note=body.reason, **kw)
    elif action == "suspend":
        dep = deployment_service.suspend_deployment(session, reason=body.reason, **kw)
    else:
        dep = deployment_service.resume_deployment(session, reason=body.reason, **kw)
    session.commit()
    return _deployment(dep)


@blueprint.post("/deployments/<key>/approve")
@document("Approve the go-live (complete checklist; not by whoever filled it in)", "Staff: deployments",
          body=ReasonIn, response=DeploymentOut, statuses={409: "filled in by the caller, or not a draft"})
@requires(Permission.DEPLOYMENTS_APPROVE)
def deployment_approve_api(key: str):
    return _transition(key, "approve")


@blueprint.post("/deployments/<key>/suspend")
@document("Suspend clinical use (effective on the next decision)", "Staff: deployments", body=ReasonIn,
          response=DeploymentOut)
@requires(Permission.DEPLOYMENTS_APPROVE)
def deployment_suspend_api(key: str):
    return _transition(key, "suspend")


@blueprint.post("/deployments/<key>/resume")
@document("Resume a suspended deployment, with a reason", "Staff: deployments", body=ReasonIn,
          response=DeploymentOut)
@requires(Permission.DEPLOYMENTS_APPROVE)
def deployment_resume_api(key: str):
    return _transition(key, "resume")


@blueprint.post("/incidents")
@document("Report an incident; optionally suspend the deployment or the version", "Staff: incidents",
          body=IncidentIn, response=IncidentOut)
@requires(Permission.INCIDENTS_WRITE)
def incident_create_api():
    body = parse_body(IncidentIn)
    session = db()
    tool_id, version_id = _tool(body.tool, body.tool_version)
    incident = incident_service.report_incident(
        session, actor=current_actor(), clock=registry().clock, kind=body.kind, severity=body.severity,
        hospital_id=_hospital(body.hospital_ura), tool_id=tool_id, tool_version_id=version_id,
        description=body.description, occurred_on=body.occurred_on, aware_on=body.aware_on, action=body.action)
    session.commit()
    return jsonify(incident_public(incident, Names(session))), 201


def _incident(key: str) -> Any:
    from registry.workspace import get_type
    from registry.workspace.base import get_row

    return get_row(db(), actor=current_actor(), otype=get_type("incidents"), key=key[:40])


@blueprint.post("/incidents/<key>/duties/<duty>")
@document("Close a duty by recording who was told what and when", "Staff: incidents", body=DutyRecordIn,
          response=IncidentOut)
@requires(Permission.INCIDENTS_WRITE)
def incident_duty_api(key: str, duty: str):
    body = parse_body(DutyRecordIn)
    session = db()
    incident = _incident(key)
    match = [d for d in incident_service.duties_of(session, incident) if d.duty == duty[:40]]
    if not match:
        raise NotFound(f"incident {incident.reference} has no duty {duty[:40]}")
    incident_service.record_duty(session, actor=current_actor(), clock=registry().clock, duty_id=match[0].id,
                                 told_whom=body.told_whom, told_what=body.told_what, told_on=body.told_on)
    session.commit()
    return jsonify(incident_public(incident, Names(session)))


@blueprint.post("/incidents/<key>/close")
@document("Close an incident with what was concluded (every duty recorded first); lifts no suspension",
          "Staff: incidents", body=CloseIn, response=IncidentOut)
@requires(Permission.INCIDENTS_WRITE)
def incident_close_api(key: str):
    body = parse_body(CloseIn)
    session = db()
    incident = incident_service.close_incident(session, actor=current_actor(), clock=registry().clock,
                                               incident_id=_incident(key).id, conclusion=body.conclusion)
    session.commit()
    return jsonify(incident_public(incident, Names(session)))


@blueprint.post("/field_safety_notices")
@document("Record a vendor's field-safety notice for some versions", "Staff: incidents", body=NoticeIn,
          response=FieldSafetyNoticeOut)
@requires(Permission.INCIDENTS_WRITE)
def field_safety_notice_create_api():
    body = parse_body(NoticeIn)
    session = db()
    notice = incident_service.record_field_safety_notice(
        session, actor=current_actor(), clock=registry().clock, reference=body.reference,
        tool_id=_tool(body.tool)[0], versions=body.versions, title=body.title, issued_on=body.issued_on,
        summary=body.summary, document_sha256=body.document_sha256)
    session.commit()
    return jsonify(_fsn_public(notice, Names(session))), 201


def _webhook_view(sub, secret: str | None = None) -> dict[str, Any]:  # noqa: ANN001
    from sqlalchemy import select

    from registry.db.webhooks import WebhookDelivery

    deliveries = db().scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
                              .order_by(WebhookDelivery.created_at.desc()).limit(20))
    log = [{"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts,
            "last_status": d.last_status, "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.status == "pending" else None}
           for d in deliveries]
    return WebhookOut(id=sub.id, url=sub.url, events=sub.events, organisation_id=sub.organisation_id,
                      active=sub.active, secret=secret, deliveries=log).model_dump(mode="json")


@blueprint.get("/webhooks")
@document("Webhook subscriptions with their delivery log", "Staff: webhooks", response=WebhookOut, list_of=True)
@requires(Permission.GATEWAYS_MANAGE)
def webhooks_list_api():
    from sqlalchemy import select

    from registry.db.webhooks import WebhookSubscription

    current_actor().require(Permission.GATEWAYS_MANAGE)
    subs = list(db().scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))
    items = [_webhook_view(s) for s in subs]
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": len(items)})


@blueprint.post("/webhooks")
@document("Subscribe to urgent notices (the signing secret is in this answer only)", "Staff: webhooks",
          body=WebhookIn, response=WebhookOut)
@requires(Permission.GATEWAYS_MANAGE)
def webhook_create_api():
    body = parse_body(WebhookIn)
    session = db()
    sub, secret = webhook_service.create_subscription(
        session, actor=current_actor(), clock=registry().clock, secret_key=registry().settings.secret_key,
        url=body.url, events=list(body.events), organisation_id=_hospital(body.hospital_ura))
    session.commit()
    return jsonify(_webhook_view(sub, secret)), 201, {"Cache-Control": "no-store"}
