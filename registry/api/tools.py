"""Staff API for AI tools and their versions (permission tools:write): create and change tools,
add and change versions, make one the default, suspend and reinstate with a reason.

Reading is the generic ``GET /api/v1/tools[/<key>]``; each change is one service call, which
writes its change record. PATCH changes only the fields the body names."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import jsonify
from pydantic import Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services import tools as service
from registry.services.errors import ValidationFailed
from registry.validation import Day
from registry.workspace.base import Names, get_row
from registry.workspace.types.tools import TOOLS, ToolOut, ToolVersionOut, tool_public

_TAG = "Staff: tools"
Text120 = Annotated[str, Field(min_length=1, max_length=120)]
Description = Annotated[str, Field(max_length=2000)]
Codes = Annotated[list[Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_]+$")]],
                  Field(max_length=40)]
Age = Annotated[float, Field(ge=0, le=150)]


class AgeRangeIn(_Strict):
    min: Age | None = None
    max: Age | None = None


class IntendedUseIn(_Strict):
    """The intended use as data (see registry.domain.intended_use)."""

    modalities: Annotated[Codes, Field(min_length=1)]
    body_parts: Codes | None = None
    age_years: AgeRangeIn | None = None
    age_years_by_sex: dict[Literal["M", "F"], AgeRangeIn] | None = None
    contrast: Literal["required", "forbidden"] | None = None
    sop_class_uids: Annotated[list[Annotated[str, Field(max_length=64, pattern=r"^[0-9.]+$")]],
                              Field(max_length=40)] | None = None
    requires: list[Literal["modality", "body_part", "age", "sex", "contrast", "sop_class"]] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


def _spec(use: IntendedUseIn) -> dict:
    spec = use.model_dump(exclude_none=True)
    for key in ("age_years",):
        if key in spec:
            spec[key] = _whole(spec[key])
    if "age_years_by_sex" in spec:
        spec["age_years_by_sex"] = {sex: _whole(b) for sex, b in spec["age_years_by_sex"].items()}
    return spec


def _whole(bounds: dict) -> dict:
    # 18.0 is stored as 18: the stored intended use reads as its author wrote it.
    return {k: int(v) if float(v).is_integer() else v for k, v in bounds.items()}


class ToolIn(_Strict):
    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    name: Text120
    vendor_id: int
    operator_id: int | None = None
    description: Description = ""


class ToolPatch(_Strict):
    name: Text120 | None = None
    description: Description | None = None
    operator_id: int | None = None


class VersionIn(_Strict):
    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
    intended_use: IntendedUseIn
    mdr_class: Literal["I", "IIa", "IIb", "III"] | None = None
    certificate_number: Annotated[str, Field(max_length=120)] | None = None
    notified_body: Annotated[str, Field(max_length=120)] | None = None
    certificate_expires_on: Day | None = None
    released_on: Day | None = None
    is_default: bool = False


class VersionPatch(_Strict):
    intended_use: IntendedUseIn | None = None
    mdr_class: Literal["I", "IIa", "IIb", "III"] | None = None
    certificate_number: Annotated[str, Field(max_length=120)] | None = None
    notified_body: Annotated[str, Field(max_length=120)] | None = None
    certificate_expires_on: Day | None = None
    released_on: Day | None = None
    is_default: Literal[True] | None = Field(default=None, description="true makes this the default "
                                             "version (another version is made the default instead)")


class ReasonIn(_Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


def _tool(key: str):  # noqa: ANN202
    return get_row(db(), actor=current_actor(), otype=TOOLS, key=key)


def _tool_answer(tool, status: int = 200):  # noqa: ANN001, ANN202
    session = db()
    return jsonify(tool_public(tool, Names(session))), status


def _version_answer(tv, status: int = 200):  # noqa: ANN001, ANN202
    return jsonify(ToolVersionOut.model_validate(tv, from_attributes=True).model_dump(mode="json")), status


@blueprint.post("/tools")
@document("Create a tool", _TAG, body=ToolIn, response=ToolOut, statuses={201: "Created"})
@requires(Permission.TOOLS_WRITE)
def tool_create():
    body = parse_body(ToolIn)
    session = db()
    tool = service.create_tool(session, actor=current_actor(), clock=registry().clock, **body.model_dump())
    session.commit()
    return _tool_answer(tool, 201)


@blueprint.patch("/tools/<key>")
@document("Change a tool's name, description or platform operator", _TAG, body=ToolPatch, response=ToolOut)
@requires(Permission.TOOLS_WRITE)
def tool_update(key: str):
    body = parse_body(ToolPatch)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise ValidationFailed("invalid tool", {"name": "cannot be empty"})
    session = db()
    tool = service.update_tool(session, actor=current_actor(), clock=registry().clock,
                               tool_id=_tool(key).id, changes=changes)
    session.commit()
    return _tool_answer(tool)


@blueprint.post("/tools/<key>/versions")
@document("Add a version to a tool", _TAG, body=VersionIn, response=ToolVersionOut,
          statuses={201: "Created", 409: "Conflict"})
@requires(Permission.TOOLS_WRITE)
def tool_version_create(key: str):
    body = parse_body(VersionIn)
    values = body.model_dump(exclude={"intended_use"})
    session = db()
    tv = service.create_tool_version(session, actor=current_actor(), clock=registry().clock,
                                     tool_id=_tool(key).id, intended_use=_spec(body.intended_use), **values)
    session.commit()
    return _version_answer(tv, 201)


def _version(key: str, version: str):  # noqa: ANN202
    return service.get_tool_version(db(), tool=_tool(key), version=version[:64])


@blueprint.patch("/tools/<key>/versions/<version>")
@document("Change a version's intended use or certificate, or make it the default", _TAG,
          body=VersionPatch, response=ToolVersionOut, statuses={409: "Conflict"})
@requires(Permission.TOOLS_WRITE)
def tool_version_update(key: str, version: str):
    body = parse_body(VersionPatch)
    changes = body.model_dump(exclude_unset=True, exclude={"is_default", "intended_use"})
    if "intended_use" in body.model_fields_set:
        if body.intended_use is None:
            raise ValidationFailed("invalid tool version", {"intended_use": "cannot be empty"})
        changes["intended_use"] = _spec(body.intended_use)
    session = db()
    actor, clock = current_actor(), registry().clock
    tv = _version(key, version)
    if changes:
        tv = service.update_tool_version(session, actor=actor, clock=clock, tool_version_id=tv.id,
                                         changes=changes)
    if body.is_default:
        tv = service.set_default_version(session, actor=actor, clock=clock, tool_version_id=tv.id)
    session.commit()
    return _version_answer(tv)


def _set_status(key: str, version: str, change):  # noqa: ANN001, ANN202
    body = parse_body(ReasonIn)
    session = db()
    tv = change(session, actor=current_actor(), clock=registry().clock,
                tool_version_id=_version(key, version).id, reason=body.reason)
    session.commit()
    return _version_answer(tv)


@blueprint.post("/tools/<key>/versions/<version>/suspend")
@document("Suspend a tool version (EU AI Act Art. 26(5)); effective on the next decision", _TAG,
          body=ReasonIn, response=ToolVersionOut, statuses={409: "Conflict"})
@requires(Permission.TOOLS_WRITE)
def tool_version_suspend(key: str, version: str):
    return _set_status(key, version, service.suspend_tool_version)


@blueprint.post("/tools/<key>/versions/<version>/reinstate")
@document("Reinstate a suspended tool version; effective on the next decision", _TAG,
          body=ReasonIn, response=ToolVersionOut, statuses={409: "Conflict"})
@requires(Permission.TOOLS_WRITE)
def tool_version_reinstate(key: str, version: str):
    return _set_status(key, version, service.reinstate_tool_version)
