"""POST /api/v1/feedback (a hospital's gateway reports a radiologist's assessment) and
GET /api/v1/monitoring (the pooled discrepancy figures, JSON or CSV: the export for the provider)."""

from __future__ import annotations

from typing import Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, ConfigDict

from registry.api import blueprint
from registry.api.auth import BadRequest, current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.permissions import Permission
from registry.services import feedback as feedback_service
from registry.services import monitoring as monitoring_service


class FeedbackOut(BaseModel):
    feedback_id: int
    decision_id: str
    assessor: str
    assessment: Literal["agree", "disagree", "not-assessed"]
    category: str | None
    received_at: str
    duplicate: bool  # true: this (decision, assessor) was already counted; the stored record


class MonitoringQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "csv"] = "json"


class MonitoringRow(BaseModel):
    tool: str
    version: str | None
    group_type: Literal["hospital", "age_band", "sex", "modality"]
    group: str
    assessed: int | None
    disagree: int | None
    not_assessed: int | None
    rate: float | None
    interval_low: float | None
    interval_high: float | None
    others_rate: float | None  # null: no other group, or withheld (fewer than three hospitals pooled)
    flagged: bool


class MonitoringOut(BaseModel):
    columns: list[str]
    rows: list[MonitoringRow]


@blueprint.post("/feedback")
@document("Report a radiologist's assessment of a routed study (counted once per decision and assessor)",
          "Gateways", body=feedback_service.FeedbackIn, response=FeedbackOut, ok_status=201,
          statuses={200: "A duplicate: the stored record, marked duplicate",
                    404: "No such decision of this hospital",
                    409: "NOT_ROUTED: the decision routed no study (deny, dry run, evaluation)"})
@requires(Permission.FEEDBACK_REPORT)
def feedback():
    body = parse_body(feedback_service.FeedbackIn)
    session = db()
    row, duplicate = feedback_service.report_feedback(session, actor=current_actor(), clock=registry().clock,
                                                      feedback=body)
    session.commit()
    return jsonify(feedback_service.feedback_view(row, duplicate)), 200 if duplicate else 201


@blueprint.get("/monitoring")
@document("Pooled discrepancy rates with 95 % Wilson intervals and flags, per tool version × hospital and "
          "per subgroup; no pseudonym, study key or assessor (format=csv: the same rows as text/csv)",
          "Monitoring", query=MonitoringQuery, response=MonitoringOut,
          response_type=("application/json", "text/csv"))
@requires(Permission.MONITORING_READ)
def monitoring():
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv") or set(request.args) - {"format"}:
        raise BadRequest("invalid query", {"format": "json or csv"})
    figures = monitoring_service.monitoring_figures(db(), actor=current_actor())
    body, media = monitoring_service.render_export(figures, fmt)
    return Response(body, content_type=media, headers={"Cache-Control": "no-store"})
