"""AI tools and tool versions: intended use, certificates, the default version, suspension.

Every change goes through :mod:`registry.services._rows`, so it carries its change record and
audit entry, and any cache of the terms is invalidated in the same transaction: a suspension
takes effect on the very next decision.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.clock import Clock
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.intended_use import validate_spec
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.scope import scope_of
from registry.services._rows import create_row, set_status, update_row
from registry.services.errors import Conflict, NotFound, ValidationFailed

# URL-safe identifiers: a tool's slug and a version appear in URLs and in gateway requests.
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
# MDR Annex VIII (software falls under rule 11: class I to III).
MDR_CLASSES = ("I", "IIa", "IIb", "III")
TOOL_FIELDS = ("name", "description", "operator_id")
VERSION_FIELDS = ("intended_use", "mdr_class", "certificate_number", "notified_body",
                  "certificate_expires_on", "released_on")


def _check_operator(session: Session, operator_id: int | None) -> dict[str, str]:
    if operator_id is None:
        return {}
    operator = session.get(Organisation, operator_id)
    if operator is None or operator.kind != "platform_operator":
        return {"operator_id": "must be an organisation of kind platform_operator"}
    return {}


def _check_text(fields: dict[str, str], key: str, value: str | None, limit: int,
                required: bool = False) -> None:
    if value is None or not value.strip():
        if required:
            fields[key] = "is required"
        return
    if len(value) > limit:
        fields[key] = f"at most {limit} characters"


def _require_own_tool(session: Session, actor: Actor, tool: Tool) -> None:
    """National staff change any tool; a vendor's or platform operator's staff only their own;
    a hospital's staff none (a tool serves every hospital: its terms are the registry's)."""
    actor.require(Permission.TOOLS_WRITE)
    scope = scope_of(session, actor)
    if scope.national:
        return
    if scope.organisation_id not in (tool.vendor_id, tool.operator_id) or scope.kind == "hospital":
        raise PermissionDenied(Permission.TOOLS_WRITE, actor)


def create_tool(session: Session, *, actor: Actor, clock: Clock, slug: str, name: str,
                vendor_id: int, operator_id: int | None, description: str = "") -> Tool:
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    if not SLUG.match(slug or "") or slug == "new":  # /tools/new is the page that creates one
        fields["slug"] = "lower-case letters, digits and hyphens, at most 64"
    elif session.scalar(select(Tool.id).where(Tool.slug == slug)) is not None:
        fields["slug"] = "another tool has this identifier"
    _check_text(fields, "name", name, 120, required=True)
    _check_text(fields, "description", description, 2000)
    vendor = session.get(Organisation, vendor_id)
    if vendor is None or vendor.kind != "vendor":
        fields["vendor_id"] = "must be an organisation of kind vendor"
    fields.update(_check_operator(session, operator_id))
    if fields:
        raise ValidationFailed("invalid tool", fields)
    scope = scope_of(session, actor)
    if not scope.national and scope.organisation_id not in (vendor_id, operator_id):
        raise PermissionDenied(Permission.TOOLS_WRITE, actor)
    tool = Tool(slug=slug, name=name.strip(), vendor_id=vendor_id, operator_id=operator_id,
                description=(description or "").strip())
    return create_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE, row=tool)


def update_tool(session: Session, *, actor: Actor, clock: Clock, tool_id: int,
                changes: dict[str, Any]) -> Tool:
    """Change a tool's name, description or platform operator (only the fields named).

    The slug and the vendor are the tool's identity (gateways ask by slug; contracts name the
    vendor), so they are not changed here."""
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    tool = session.get(Tool, tool_id)
    if tool is None:
        raise NotFound(f"no tool {tool_id}")
    _require_own_tool(session, actor, tool)
    unknown = set(changes) - set(TOOL_FIELDS)
    if unknown:
        raise ValidationFailed("invalid tool change", {k: "cannot be changed" for k in sorted(unknown)})
    fields: dict[str, str] = {}
    if "name" in changes:
        _check_text(fields, "name", changes["name"], 120, required=True)
    if "description" in changes:
        _check_text(fields, "description", changes["description"], 2000)
    if "operator_id" in changes:
        fields.update(_check_operator(session, changes["operator_id"]))
    if fields:
        raise ValidationFailed("invalid tool", fields)
    clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in changes.items()}
    if "description" in clean and clean["description"] is None:
        clean["description"] = ""
    return update_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                      row=tool, changes=clean)


def _check_version_fields(values: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    if "intended_use" in values:
        try:
            validate_spec(values["intended_use"])
        except ValueError as exc:
            fields["intended_use"] = str(exc)
    if values.get("mdr_class") is not None and values["mdr_class"] not in MDR_CLASSES:
        fields["mdr_class"] = "one of " + ", ".join(MDR_CLASSES)
    for key in ("certificate_number", "notified_body"):
        if values.get(key) is not None:
            _check_text(fields, key, values[key], 120)
    for key in ("certificate_expires_on", "released_on"):
        if values.get(key) is not None and not isinstance(values[key], date):
            fields[key] = "a date"
    return fields


def _clear_default(session: Session, *, actor: Actor, clock: Clock, tool_id: int, version: str) -> None:
    for other in session.scalars(select(ToolVersion).where(ToolVersion.tool_id == tool_id,
                                                           ToolVersion.is_default)):
        if other.version != version:
            update_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                       row=other, changes={"is_default": False},
                       message=f"version {version} becomes the default")


def create_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_id: int, version: str,
                        intended_use: dict[str, Any], mdr_class: str | None = None,
                        certificate_number: str | None = None, notified_body: str | None = None,
                        certificate_expires_on: date | None = None, released_on: date | None = None,
                        is_default: bool = False) -> ToolVersion:
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    tool = session.get(Tool, tool_id)
    if tool is None:
        raise NotFound(f"no tool {tool_id}")
    _require_own_tool(session, actor, tool)
    fields = _check_version_fields({
        "intended_use": intended_use, "mdr_class": mdr_class, "certificate_number": certificate_number,
        "notified_body": notified_body, "certificate_expires_on": certificate_expires_on,
        "released_on": released_on})
    if not VERSION.match(version or ""):
        fields["version"] = "letters, digits and . _ + -, at most 64"
    elif session.scalar(select(ToolVersion.id).where(ToolVersion.tool_id == tool_id,
                                                     ToolVersion.version == version)) is not None:
        fields["version"] = "this tool already has this version"
    if fields:
        raise ValidationFailed("invalid tool version", fields)
    if is_default:
        _clear_default(session, actor=actor, clock=clock, tool_id=tool_id, version=version)
    tv = ToolVersion(tool_id=tool_id, version=version, intended_use=intended_use,
                     mdr_class=mdr_class, certificate_number=certificate_number,
                     notified_body=notified_body, certificate_expires_on=certificate_expires_on,
                     released_on=released_on, is_default=is_default,
                     status_since=term_date(clock.now()))
    return create_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE, row=tv)


def get_tool_version(session: Session, *, tool: Tool, version: str) -> ToolVersion:
    """One version of a tool (the caller has already found the tool within its scope)."""
    row = session.scalar(select(ToolVersion).where(ToolVersion.tool_id == tool.id,
                                                   ToolVersion.version == version))
    if row is None:
        raise NotFound(f"no version {version} of {tool.slug}")
    return row


def _version(session: Session, actor: Actor, tool_version_id: int) -> ToolVersion:
    tv = session.get(ToolVersion, tool_version_id)
    if tv is None:
        raise NotFound(f"no tool version {tool_version_id}")
    _require_own_tool(session, actor, session.get(Tool, tv.tool_id))
    return tv


def update_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_version_id: int,
                        changes: dict[str, Any]) -> ToolVersion:
    """Change a version's intended use or certificate (only the fields named).

    The version label is its identity (gateways ask for it, decisions refer to it); its status
    changes through suspend/reinstate and the default through :func:`set_default_version`."""
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    tv = _version(session, actor, tool_version_id)
    unknown = set(changes) - set(VERSION_FIELDS)
    if unknown:
        raise ValidationFailed("invalid tool version change",
                               {k: "cannot be changed here" for k in sorted(unknown)})
    fields = _check_version_fields(changes)
    if fields:
        raise ValidationFailed("invalid tool version", fields)
    return update_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                      row=tv, changes=dict(changes))


def set_default_version(session: Session, *, actor: Actor, clock: Clock,
                        tool_version_id: int) -> ToolVersion:
    """Make this the version gateways get when they name none (and the routing matrix shows)."""
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    tv = _version(session, actor, tool_version_id)
    if tv.status == "withdrawn":
        raise Conflict("a withdrawn version cannot be the default", {"version": "is withdrawn"})
    if tv.is_default:
        return tv
    _clear_default(session, actor=actor, clock=clock, tool_id=tv.tool_id, version=tv.version)
    return update_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                      row=tv, changes={"is_default": True}, message="made the default version")


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("a reason is required", {"reason": "is required"})
    if len(reason) > 500:
        raise ValidationFailed("the reason is too long", {"reason": "at most 500 characters"})
    return reason


def suspend_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_version_id: int,
                         reason: str) -> ToolVersion:
    """EU AI Act Art. 26(5): a deployer suspends use when a risk appears; it takes effect on the
    next decision (the snapshot reads the version's status for every decision)."""
    actor.require(Permission.TOOLS_WRITE)  # before validation: an unauthorised caller learns nothing
    reason = _reason(reason)
    tv = _version(session, actor, tool_version_id)
    if tv.status != "active":
        raise Conflict(f"version {tv.version} is {tv.status}, not active", {"reason": f"the version is {tv.status}"})
    return set_status(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                      model=ToolVersion, row_id=tool_version_id, status="suspended",
                      allowed=("suspended",), reason=reason, action="suspend",
                      extra={"status_since": term_date(clock.now())})


def reinstate_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_version_id: int,
                           reason: str) -> ToolVersion:
    """Lift a suspension (with the reason why the risk is resolved); effective on the next decision."""
    actor.require(Permission.TOOLS_WRITE)  # before validation: an unauthorised caller learns nothing
    reason = _reason(reason)
    tv = _version(session, actor, tool_version_id)
    if tv.status != "suspended":
        raise Conflict(f"version {tv.version} is {tv.status}, not suspended",
                       {"reason": f"the version is {tv.status}"})
    return set_status(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                      model=ToolVersion, row_id=tool_version_id, status="active",
                      allowed=("active",), reason=reason, action="reinstate",
                      extra={"status_since": term_date(clock.now())})


def list_tools(session: Session) -> list[Tool]:
    return list(session.scalars(select(Tool).order_by(Tool.name)))


def versions_by_tool(session: Session) -> dict[int, list[ToolVersion]]:
    out: dict[int, list[ToolVersion]] = {}
    for v in session.scalars(select(ToolVersion).order_by(ToolVersion.tool_id, ToolVersion.version)):
        out.setdefault(v.tool_id, []).append(v)
    return out
