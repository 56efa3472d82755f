"""Staff API for patients' objections: record, withdraw, upload (CSV or FHIR Bundle, all or nothing),
export, and the data-subject access lookup. The list and detail are the generic
``GET /api/v1/objections[/<id>]``."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services import objections as service
from registry.services.errors import NotFound, ValidationFailed
from registry.validation import Day
from registry.workspace.base import Names
from registry.workspace.types.objections import OBJECTIONS, ObjectionOut

_FORMATS = {"text/csv": "csv", "application/fhir+json": "fhir"}


class ObjectionIn(_Strict):
    hospital_id: int
    pseudonym: Annotated[str, Field(min_length=32, max_length=128, description="HMAC-SHA256 hex, see docs")]
    purposes: Annotated[list[Annotated[str, Field(max_length=40)]], Field(min_length=1, max_length=10)]
    recorded_on: Day | None = None


class WithdrawIn(_Strict):
    last_day: Day | None = None
    reason: Annotated[str, Field(max_length=200)] = "withdrawn by the patient"


class ImportQuery(BaseModel):
    hospital_id: int
    replace: bool = Field(default=False, description="key rotation: the upload replaces the whole set")


class ImportOut(BaseModel):
    recorded: int
    withdrawn: int


class ExportQuery(BaseModel):
    format: Literal["csv", "fhir"] = "fhir"
    hospital_id: int | None = None
    include_withdrawn: bool = False


class AccessQuery(BaseModel):
    pseudonym: str


class AccessOut(BaseModel):
    pseudonym: str
    objections: list[ObjectionOut]
    decisions: list[dict]


def _query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, reported per field
        fields = {".".join(str(p) for p in e["loc"]): e["msg"] for e in getattr(exc, "errors", lambda: [])()}
        raise ValidationFailed("invalid query", fields or {"query": "invalid"}) from None


@blueprint.post("/objections")
@document("Record a patient's objection for one or more purposes", "Staff: objections", body=ObjectionIn,
          response=ObjectionOut, list_of=True)
@requires(Permission.OBJECTIONS_WRITE)
def objection_create():
    body = parse_body(ObjectionIn)
    session = db()
    rows = service.record_objection(session, actor=current_actor(), clock=registry().clock, source="api",
                                    **body.model_dump())
    session.commit()
    names = Names(session)
    return jsonify({"items": [OBJECTIONS.to_public(r, names) for r in rows], "total": len(rows), "page": 1,
                    "per_page": len(rows)}), 201


@blueprint.post("/objections/<key>/withdraw")
@document("Withdraw an objection (it still applies on its last day; the history is kept)", "Staff: objections",
          body=WithdrawIn, response=ObjectionOut)
@requires(Permission.OBJECTIONS_WRITE)
def objection_withdraw(key: str):
    body = parse_body(WithdrawIn) if request.get_data() else WithdrawIn()
    if not key.isascii() or not key.isdigit() or len(key) > 18:
        raise NotFound(f"no objection {key[:20]}")
    session = db()
    row = service.withdraw_objection(session, actor=current_actor(), clock=registry().clock,
                                     objection_id=int(key), **body.model_dump())
    session.commit()
    return jsonify(OBJECTIONS.to_public(row, Names(session)))


@blueprint.post("/objections/import")
@document("Upload objections (text/csv or application/fhir+json Bundle): all lines or none", "Staff: objections",
          query=ImportQuery, response=ImportOut, body_type="text/csv")
@requires(Permission.OBJECTIONS_WRITE)
def objection_import():
    query = _query(ImportQuery)
    fmt = _FORMATS.get(request.mimetype)
    if fmt is None:
        raise ValidationFailed("unsupported content type", {"Content-Type": "text/csv or application/fhir+json"})
    session = db()
    result = service.import_objections(session, actor=current_actor(), clock=registry().clock,
                                       hospital_id=query.hospital_id, fmt=fmt, content=request.get_data(),
                                       replace=query.replace)
    session.commit()
    return jsonify({"recorded": result.recorded, "withdrawn": result.withdrawn})


@blueprint.get("/objections/export")
@document("Export objections as a FHIR R4 Bundle of Consents or as CSV", "Staff: objections", query=ExportQuery,
          response_type=("application/fhir+json", "text/csv"))
@requires(Permission.OBJECTIONS_READ)
def objection_export():
    query = _query(ExportQuery)
    body = service.export_objections(db(), actor=current_actor(), fmt=query.format, hospital_id=query.hospital_id,
                                     include_withdrawn=query.include_withdrawn)
    if query.format == "csv":
        return Response(body, content_type="text/csv; charset=utf-8", headers={"Cache-Control": "no-store"})
    return jsonify(body), 200, {"Content-Type": "application/fhir+json", "Cache-Control": "no-store"}


@blueprint.get("/objections/access")
@document("Data-subject access: every decision and objection for one pseudonym (the lookup is audited)",
          "Staff: objections", query=AccessQuery, response=AccessOut)
@requires(Permission.OBJECTIONS_READ)
def objection_access():
    query = _query(AccessQuery)
    session = db()
    report = service.subject_access(session, actor=current_actor(), clock=registry().clock,
                                    pseudonym=query.pseudonym)
    session.commit()  # the audit entry of the lookup
    names = Names(session)
    return jsonify({"pseudonym": report.pseudonym,
                    "objections": [OBJECTIONS.to_public(o, names) for o in report.objections],
                    "decisions": [access_row(d, names) for d in report.decisions]}), 200, {"Cache-Control": "no-store"}


def access_row(d, names: Names) -> dict:  # noqa: ANN001
    """One decision as a data subject sees it: what, when, which tool, the outcome, objection applied."""
    codes = [r.get("code") for r in d.reasons]
    return {"id": d.id, "decided_at": d.decided_at.isoformat(), "hospital": names.org(d.hospital_id),
            "tool": d.tool_slug, "purpose": d.purpose, "outcome": d.outcome, "reasons": codes,
            "objection_applied": "PATIENT_OBJECTION" in codes}
