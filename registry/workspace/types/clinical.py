"""Clinical governance objects: deployments (the go-live decision and the deployer's checklist,
AI Act Art. 26), incidents with their legal duties, and field-safety notices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from registry.db.clinical import Deployment, DeploymentStatus, FieldSafetyNotice, Incident, IncidentKind
from registry.db.tools import Tool
from registry.domain.deployment import missing_items
from registry.permissions import Permission
from registry.scope import restrict
from registry.web.i18n import _, _l
from registry.workspace.base import Column, Filter, ObjectType, Related, contains, register
from registry.workspace.labels import label
from registry.workspace.types.contracts import _org
from registry.workspace.types.gateways import _int_filter, hospital_options
from registry.workspace.types.organisations import _options


def tool_options(session, scope) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(str(t.id), t.name) for t in session.scalars(restrict(select(Tool), scope, Tool).order_by(Tool.name))]


def _tool(names, tool_id: int) -> dict[str, Any] | None:  # noqa: ANN001
    t = names.tools.get(tool_id)
    return None if t is None else {"id": t.id, "slug": t.slug, "name": t.name}


def _title(row) -> str:  # noqa: ANN001
    from registry.db.organisations import Organisation

    session = object_session(row)
    hospital = session.get(Organisation, row.hospital_id) if row.hospital_id else None
    tool = session.get(Tool, row.tool_id)
    return f"{tool.name if tool else row.tool_id} — {hospital.name if hospital else _('every hospital')}"


# -- deployments ------------------------------------------------------------------------------------

class DeploymentOut(BaseModel):
    id: int
    hospital: dict[str, Any] | None
    tool: dict[str, Any] | None
    versions: list[str]
    status: str
    status_reason: str | None
    status_since: date | None
    missing: list[str]
    ifu_document: str | None
    ifu_sha256: str | None
    overseers: list[dict[str, Any]]
    dpia_reference: str | None
    dpia_date: date | None
    works_council_informed_on: date | None
    acceptance_cases: int | None
    acceptance_agreement_pct: int | None
    acceptance_date: date | None
    acceptance_by: str | None
    monitoring_plan: str | None
    art27_applicable: bool | None
    art49_applicable: bool | None
    prepared_by: list[str]
    approved_by: str | None
    approved_at: datetime | None


def deployment_public(d: Deployment, names) -> dict[str, Any]:  # noqa: ANN001
    data = {k: getattr(d, k) for k in DeploymentOut.model_fields if hasattr(d, k)}
    data.update(hospital=_org(names, d.hospital_id), tool=_tool(names, d.tool_id), missing=missing_items(d))
    return DeploymentOut(**data).model_dump(mode="json")


def _applicable(value: bool | None) -> str | None:
    if value is None:
        return None
    return _("applicable") if value else _("not applicable")


def _overseers(d: Deployment) -> list[str]:
    return [_("%(name)s (%(role)s), trained on %(day)s", name=o.get("name"), role=o.get("role") or "—",
              day=o.get("trained_on") or "—") for o in d.overseers or []]


def _deployment_fields(d: Deployment, names) -> list:  # noqa: ANN001
    acceptance = None
    if d.acceptance_cases:
        acceptance = _("%(cases)s cases, %(pct)s%% agreement with radiologists, on %(day)s by %(by)s",
                       cases=d.acceptance_cases, pct=d.acceptance_agreement_pct if d.acceptance_agreement_pct
                       is not None else "—", day=d.acceptance_date or "—", by=d.acceptance_by or "—")
    return [
        (_l("Hospital"), d.hospital_id, "org"), (_l("Tool"), d.tool_id, "tool"),
        (_l("Versions covered"), d.versions, "list"),
        (_l("Status"), ("deployment_status", d.status), "badge"), (_l("Reason"), d.status_reason, "text"),
        (_l("Since"), d.status_since, "day"),
        (_l("Missing from the checklist"), [label("checklist", m) for m in missing_items(d)], "list"),
        (_l("Instructions for use (Art. 26(1))"), d.ifu_document, "text"),
        (_l("SHA-256 of the instructions"), d.ifu_sha256, "text"),
        (_l("Human oversight (Art. 26(2), Art. 4)"), _overseers(d), "lines"),
        (_l("DPIA (Art. 26(9))"), " · ".join(str(x) for x in (d.dpia_reference, d.dpia_date) if x), "text"),
        (_l("Works council informed (Art. 26(7))"), d.works_council_informed_on, "day"),
        (_l("Local acceptance test"), acceptance, "text"),
        (_l("Monitoring plan (Art. 26(5))"), d.monitoring_plan, "text"),
        (_l("Fundamental-rights impact assessment (Art. 27)"), _applicable(d.art27_applicable), "text"),
        (_l("EU database registration (Art. 49)"), _applicable(d.art49_applicable), "text"),
        (_l("Go-live approved by"), d.approved_by, "actor"), (_l("Approved at"), d.approved_at, "moment"),
        (_l("Checklist filled in by"), d.prepared_by, "actors"),
    ]


def _deployment_related(session, scope, d):  # noqa: ANN001, ANN202
    incidents = list(session.scalars(restrict(select(Incident).where(Incident.deployment_id == d.id)
                                              .order_by(Incident.aware_on.desc()), scope, Incident)))
    notices = [n for n in session.scalars(select(FieldSafetyNotice).where(FieldSafetyNotice.tool_id == d.tool_id)
                                          .order_by(FieldSafetyNotice.issued_on.desc()))
               if set(n.versions or []) & set(d.versions or [])]
    return [Related(_l("Incidents"), "incidents", incidents),
            Related(_l("Field-safety notices"), "field_safety_notices", notices)]


DEPLOYMENTS = register(ObjectType(
    key="deployments", model=Deployment, singular=_l("deployment"), plural=_l("Deployments"),
    read=Permission.DEPLOYMENTS_READ, write=Permission.DEPLOYMENTS_WRITE,
    columns=[
        Column("id", _l("Number"), sort=Deployment.id, kind="link"),
        Column("hospital_id", _l("Hospital"), kind="org"),
        Column("tool_id", _l("Tool"), kind="tool"),
        Column("versions", _l("Versions covered"), kind="list"),
        Column("status", _l("Status"), sort=Deployment.status, kind="badge", enum="deployment_status"),
        Column("missing", _l("Missing from the checklist"),
               value=lambda d, names: [label("checklist", m) for m in missing_items(d)], kind="list"),
        Column("status_since", _l("Since"), sort=Deployment.status_since, kind="day"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(Deployment.hospital_id), options=hospital_options,
               kind="select"),
        Filter("tool", _l("Tool"), _int_filter(Deployment.tool_id), options=tool_options, kind="select"),
        Filter("status", _l("Status"), lambda s, v: s.where(Deployment.status == v),
               options=_options("deployment_status", DeploymentStatus), kind="select"),
    ],
    default_sort="id", title=_title, public=DeploymentOut, to_public=deployment_public,
    fields=_deployment_fields, related=_deployment_related, create_endpoint="web.deployment_create",
))


# -- incidents --------------------------------------------------------------------------------------

class DutyOut(BaseModel):
    id: int
    duty: str
    legal_basis: str
    due_on: date
    told_whom: str | None
    told_what: str | None
    told_on: date | None
    recorded_by: str | None
    closed_at: datetime | None


class ClosureOut(BaseModel):
    """Who closed an incident, when, and what they concluded."""

    by: str
    by_label: str
    at: datetime
    conclusion: str


class IncidentOut(BaseModel):
    id: int
    reference: str
    kind: str
    severity: str | None
    hospital: dict[str, Any] | None
    tool: dict[str, Any] | None
    tool_version_id: int | None
    deployment_id: int | None
    description: str
    occurred_on: date
    aware_on: date
    action: str
    status: str
    reported_by: str
    duties: list[DutyOut]
    closed: ClosureOut | None = None


def incident_public(i: Incident, names) -> dict[str, Any]:  # noqa: ANN001
    from registry.services.incidents import closure_of, duties_of

    data = {k: getattr(i, k) for k in IncidentOut.model_fields if hasattr(i, k)}
    data.update(hospital=_org(names, i.hospital_id), tool=_tool(names, i.tool_id),
                duties=[DutyOut.model_validate(d, from_attributes=True) for d in duties_of(object_session(i), i)],
                closed=closure_of(object_session(i), i))
    return IncidentOut(**data).model_dump(mode="json")


def _incident_fields(i: Incident, names) -> list:  # noqa: ANN001
    from registry.db.tools import ToolVersion
    from registry.services.incidents import closure_of

    version = object_session(i).get(ToolVersion, i.tool_version_id) if i.tool_version_id else None
    closure = closure_of(object_session(i), i) or {}
    return [
        (_l("Status"), ("incident_status", i.status), "badge"),
        (_l("Kind"), ("incident_kind", i.kind), "badge"),
        (_l("Severity"), ("severity", i.severity) if i.severity else None, "badge"),
        (_l("Hospital"), i.hospital_id, "org"), (_l("Tool"), i.tool_id, "tool"),
        (_l("Version"), version.version if version else None, "text"),
        (_l("Deployment"), (f"/deployments/{i.deployment_id}", f"#{i.deployment_id}") if i.deployment_id else None,
         "link"),
        (_l("What happened"), i.description, "text"), (_l("Occurred on"), i.occurred_on, "day"),
        (_l("Known since"), i.aware_on, "day"), (_l("Suspension"), ("incident_action", i.action), "badge"),
        (_l("Reported by"), i.reported_by, "actor"),
        (_l("Closed by"), closure.get("by"), "actor"), (_l("Closed at"), closure.get("at"), "moment"),
        (_l("Conclusion"), closure.get("conclusion"), "text"),
    ]


def _incident_refs(i: Incident) -> list[tuple[str, str]]:
    from registry.services.incidents import duties_of

    return [("incidents", str(i.id))] + [("incident_duties", str(d.id)) for d in duties_of(object_session(i), i)]


INCIDENTS = register(ObjectType(
    key="incidents", model=Incident, singular=_l("incident"), plural=_l("Incidents"),
    read=Permission.DEPLOYMENTS_READ, write=Permission.INCIDENTS_WRITE,
    columns=[
        Column("reference", _l("Reference"), sort=Incident.reference, kind="link"),
        Column("kind", _l("Kind"), sort=Incident.kind, kind="badge", enum="incident_kind"),
        Column("hospital_id", _l("Hospital"), kind="org"),
        Column("tool_id", _l("Tool"), kind="tool"),
        Column("aware_on", _l("Known since"), sort=Incident.aware_on, kind="day"),
        Column("action", _l("Suspension"), kind="badge", enum="incident_action"),
        Column("status", _l("Status"), sort=Incident.status, kind="badge", enum="incident_status"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(Incident.hospital_id), options=hospital_options,
               kind="select"),
        Filter("kind", _l("Kind"), lambda s, v: s.where(Incident.kind == v),
               options=_options("incident_kind", IncidentKind), kind="select"),
        Filter("status", _l("Status"), lambda s, v: s.where(Incident.status == v),
               options=_options("incident_status", ("open", "closed")), kind="select"),
    ],
    search=lambda q: or_(Incident.reference == q.upper(), contains(Incident.description, q)),
    default_sort="-aware_on", title=lambda i: i.reference, url_key=lambda i: i.reference,
    lookup=lambda key: Incident.reference == key, public=IncidentOut, to_public=incident_public,
    fields=_incident_fields, create_endpoint="web.incident_create",
    history_refs=lambda i: _incident_refs(i),
))


# -- field-safety notices ---------------------------------------------------------------------------

class FieldSafetyNoticeOut(BaseModel):
    id: int
    reference: str
    tool: dict[str, Any] | None
    versions: list[str]
    title: str
    issued_on: date
    summary: str
    document_sha256: str | None
    affected_deployments: list[int]


def _fsn_public(n: FieldSafetyNotice, names) -> dict[str, Any]:  # noqa: ANN001
    from registry.services.deployments import deployments_of_tool

    data = {k: getattr(n, k) for k in FieldSafetyNoticeOut.model_fields if hasattr(n, k)}
    data.update(tool=_tool(names, n.tool_id), affected_deployments=[
        d.id for d in deployments_of_tool(object_session(n), n.tool_id, n.versions)])
    return FieldSafetyNoticeOut(**data).model_dump(mode="json")


def _fsn_related(session, scope, n):  # noqa: ANN001, ANN202
    from registry.services.incidents import affected_deployments

    return [Related(_l("Affected deployments"), "deployments", affected_deployments(session, n, scope))]


FIELD_SAFETY_NOTICES = register(ObjectType(
    key="field_safety_notices", model=FieldSafetyNotice, singular=_l("field-safety notice"),
    plural=_l("Field-safety notices"), read=Permission.DEPLOYMENTS_READ, write=Permission.INCIDENTS_WRITE,
    columns=[
        Column("reference", _l("Reference"), sort=FieldSafetyNotice.reference, kind="link"),
        Column("tool_id", _l("Tool"), kind="tool"),
        Column("versions", _l("Versions"), kind="list"),
        Column("title", _l("Title")),
        Column("issued_on", _l("Issued on"), sort=FieldSafetyNotice.issued_on, kind="day"),
    ],
    filters=[Filter("tool", _l("Tool"), _int_filter(FieldSafetyNotice.tool_id), options=tool_options,
                    kind="select")],
    search=lambda q: or_(FieldSafetyNotice.reference == q, contains(FieldSafetyNotice.title, q)),
    default_sort="-issued_on", title=lambda n: n.reference, url_key=lambda n: n.reference,
    lookup=lambda key: FieldSafetyNotice.reference == key, public=FieldSafetyNoticeOut, to_public=_fsn_public,
    fields=lambda n, names: [
        (_l("Tool"), n.tool_id, "tool"), (_l("Versions"), n.versions, "list"), (_l("Title"), n.title, "text"),
        (_l("Issued on"), n.issued_on, "day"), (_l("Summary"), n.summary, "text"),
        (_l("SHA-256 of the notice"), n.document_sha256, "text"),
    ],
    related=_fsn_related, create_endpoint="web.field_safety_notice_create",
))
