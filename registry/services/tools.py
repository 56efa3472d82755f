"""AI tools and tool versions: intended use, certificates, suspension."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.intended_use import validate_spec
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.services._rows import create_row, set_status, update_row
from registry.services.errors import NotFound, ValidationFailed


def create_tool(session: Session, *, actor: Actor, clock: Clock, slug: str, name: str,
                vendor_id: int, operator_id: int | None, description: str = "") -> Tool:
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    vendor = session.get(Organisation, vendor_id)
    if vendor is None or vendor.kind != "vendor":
        raise ValidationFailed("invalid tool", {"vendor_id": "must be an organisation of kind vendor"})
    if operator_id is not None:
        operator = session.get(Organisation, operator_id)
        if operator is None or operator.kind != "platform_operator":
            raise ValidationFailed("invalid tool",
                                   {"operator_id": "must be an organisation of kind platform_operator"})
    tool = Tool(slug=slug, name=name, vendor_id=vendor_id, operator_id=operator_id,
                description=description)
    return create_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE, row=tool)


def create_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_id: int, version: str,
                        intended_use: dict[str, Any], mdr_class: str | None = None,
                        certificate_number: str | None = None, notified_body: str | None = None,
                        certificate_expires_on: date | None = None, released_on: date | None = None,
                        is_default: bool = False) -> ToolVersion:
    actor.require(Permission.TOOLS_WRITE)  # first: an unauthorised caller learns nothing
    try:
        validate_spec(intended_use)
    except ValueError as exc:
        raise ValidationFailed("invalid intended use", {"intended_use": str(exc)}) from exc
    if session.get(Tool, tool_id) is None:
        raise NotFound(f"no tool {tool_id}")
    if is_default:
        for other in session.scalars(select(ToolVersion).where(ToolVersion.tool_id == tool_id,
                                                               ToolVersion.is_default)):
            update_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                       row=other, changes={"is_default": False},
                       message=f"version {version} becomes the default")
    tv = ToolVersion(tool_id=tool_id, version=version, intended_use=intended_use,
                     mdr_class=mdr_class, certificate_number=certificate_number,
                     notified_body=notified_body, certificate_expires_on=certificate_expires_on,
                     released_on=released_on, is_default=is_default)
    return create_row(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE, row=tv)


def suspend_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_version_id: int,
                         reason: str) -> ToolVersion:
    """EU AI Act Art. 26: a deployer suspends use when a risk appears; it takes effect at once."""
    actor.require(Permission.TOOLS_WRITE)  # before validation: an unauthorised caller learns nothing
    if not reason.strip():
        raise ValidationFailed("a reason is required", {"reason": "is required"})
    return set_status(session, actor=actor, clock=clock, permission=Permission.TOOLS_WRITE,
                      model=ToolVersion, row_id=tool_version_id, status="suspended",
                      allowed=("suspended",), reason=reason, action="suspend",
                      extra={"status_since": term_date(clock.now())})


def reinstate_tool_version(session: Session, *, actor: Actor, clock: Clock, tool_version_id: int,
                           reason: str) -> ToolVersion:
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
