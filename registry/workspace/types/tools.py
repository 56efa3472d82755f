"""AI tools and their versions: intended use as readable rules, CE certificate, suspension."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from registry.db.contracts import Licence
from registry.db.tools import Tool, ToolStatus, ToolVersion
from registry.permissions import Permission
from registry.scope import restrict
from registry.web.i18n import _, _l
from registry.workspace.base import Column, Filter, ObjectType, Related, contains, register
from registry.workspace.types.organisations import _options


class ToolVersionOut(BaseModel):
    id: int
    version: str
    released_on: date | None
    intended_use: dict[str, Any]
    mdr_class: str | None
    certificate_number: str | None
    notified_body: str | None
    certificate_expires_on: date | None
    status: str
    status_reason: str | None
    status_since: date | None
    is_default: bool


class ToolOut(BaseModel):
    slug: str
    name: str
    description: str
    vendor: dict[str, Any]
    operator: dict[str, Any] | None
    status: str
    status_reason: str | None
    versions: list[ToolVersionOut]


def _bounds(b: dict[str, Any]) -> str:
    low, high = b.get("min"), b.get("max")
    if low is not None and high is not None:
        return _("%(low)s to %(high)s years", low=low, high=high)
    if low is not None:
        return _("%(low)s years and older", low=low)
    return _("up to %(high)s years", high=high)


def describe_intended_use(spec: dict[str, Any]) -> list[str]:
    """The intended use as sentences a clinician can check against the instructions for use."""
    out = [_("Modality: %(list)s", list=_(" or ").join(spec.get("modalities") or []))]
    if spec.get("body_parts"):
        out.append(_("Body part: %(list)s", list=_(" or ").join(spec["body_parts"])))
    if spec.get("age_years"):
        out.append(_("Age: %(range)s", range=_bounds(spec["age_years"])))
    for sex, bounds in (spec.get("age_years_by_sex") or {}).items():
        who = {"M": _("boys/men"), "F": _("girls/women")}.get(sex, sex)
        out.append(_("Age for %(who)s: %(range)s", who=who, range=_bounds(bounds)))
    if spec.get("contrast") == "required":
        out.append(_("Contrast agent required"))
    elif spec.get("contrast") == "forbidden":
        out.append(_("Without contrast agent only"))
    if spec.get("sop_class_uids"):
        out.append(_("DICOM SOP classes: %(list)s", list=", ".join(spec["sop_class_uids"])))
    if spec.get("requires"):
        out.append(_("The gateway must send: %(list)s", list=", ".join(spec["requires"])))
    return out


# How early the pages warn that a CE certificate is about to expire (the dashboard's horizon too).
CERTIFICATE_WARNING_DAYS = 90


def certificate_state(expires_on: date | None, today: date) -> dict[str, Any]:
    """``missing``, ``expired`` (decisions are denied), ``expiring`` (within 90 days) or ``valid``,
    with the days left: the page says it in words, not colour alone."""
    if expires_on is None:
        return {"state": "missing", "days": None, "on": None}
    days = (expires_on - today).days
    if days < 0:
        return {"state": "expired", "days": days, "on": expires_on}
    return {"state": "expiring" if days <= CERTIFICATE_WARNING_DAYS else "valid", "days": days, "on": expires_on}


def versions_of(session, tool: Tool) -> list[ToolVersion]:  # noqa: ANN001
    return list(session.scalars(select(ToolVersion).where(ToolVersion.tool_id == tool.id)
                                .order_by(ToolVersion.version)))


def tool_public(tool: Tool, names, versions: list[ToolVersion] | None = None) -> dict[str, Any]:  # noqa: ANN001
    def org(org_id):  # noqa: ANN001, ANN202
        o = names.orgs.get(org_id)
        return None if o is None else {"id": o.id, "name": o.name}
    if versions is None:
        versions = versions_of(names._session, tool)  # noqa: SLF001
    return ToolOut(slug=tool.slug, name=tool.name, description=tool.description, vendor=org(tool.vendor_id),
                   operator=org(tool.operator_id), status=tool.status, status_reason=tool.status_reason,
                   versions=[ToolVersionOut.model_validate(v, from_attributes=True) for v in versions]
                   ).model_dump(mode="json")


def _default_version(tool: Tool, names) -> str:  # noqa: ANN001
    for v in versions_of(names._session, tool):  # noqa: SLF001
        if v.is_default:
            return v.version
    return ""


def _related(session, scope, tool):  # noqa: ANN001, ANN202
    return [Related(_l("Licences"), "licences", list(session.scalars(restrict(
        select(Licence).where(Licence.tool_id == tool.id).order_by(Licence.reference), scope, Licence))))]


TOOLS = register(ObjectType(
    key="tools", model=Tool, singular=_l("tool"), plural=_l("Tools"),
    read=Permission.TOOLS_READ, write=Permission.TOOLS_WRITE,
    columns=[
        Column("name", _l("Name"), sort=Tool.name, kind="link"),
        Column("slug", _l("Identifier"), sort=Tool.slug),
        Column("vendor_id", _l("Vendor"), kind="org"),
        Column("operator_id", _l("Platform operator"), kind="org"),
        Column("default_version", _l("Default version"), value=_default_version),
        Column("status", _l("Status"), sort=Tool.status, kind="badge", enum="status"),
    ],
    filters=[Filter("status", _l("Status"), lambda s, v: s.where(Tool.status == v),
                    options=_options("status", ToolStatus), kind="select")],
    search=lambda q: or_(contains(Tool.name, q), Tool.slug == q.lower()),
    default_sort="name", title=lambda t: t.name, url_key=lambda t: t.slug,
    lookup=lambda key: Tool.slug == key,
    public=ToolOut, to_public=lambda t, names: tool_public(t, names),
    fields=lambda t, names: [
        (_l("Identifier"), t.slug, "text"), (_l("Vendor"), t.vendor_id, "org"),
        (_l("Platform operator"), t.operator_id, "org"), (_l("Description"), t.description, "text"),
        (_l("Status"), ("status", t.status), "badge"), (_l("Reason"), t.status_reason, "text"),
    ],
    related=_related,
    history_refs=lambda t: [("tools", str(t.id))] + [
        ("tool_versions", str(v.id)) for v in versions_of(object_session(t), t)],
    create_endpoint="web.tool_create",
))
