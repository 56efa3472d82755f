"""The evidence pack from the workspace: the same pack as ``GET /api/v1/evidence/…``, for staff
with ``audit:read`` (a hospital's people: their own hospital only)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from sqlalchemy import select

from registry.api.agreements import pdf_response
from registry.api.evidence import EvidenceQuery, _safe, take
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.edge import db
from registry.services.errors import ValidationFailed
from registry.services.evidence import PERMISSION
from registry.web import blueprint
from registry.web.views import login_required


def _query() -> EvidenceQuery:
    from pydantic import ValidationError

    try:
        return EvidenceQuery.model_validate({k: v for k, v in request.args.items() if k in ("from", "to", "lang")})
    except ValidationError:
        raise ValidationFailed("invalid query", {"query": "from/to as YYYY-MM-DD, lang nl or en"}) from None


@blueprint.get("/evidence/<hospital_ura>/<tool_slug>.pdf")
@login_required(PERMISSION)
def evidence_pdf(hospital_ura: str, tool_slug: str):
    body = take(hospital_ura, tool_slug, "pdf", _query(), actor=g.web_actor)
    return pdf_response(body, f"evidence-{hospital_ura}-{tool_slug}.pdf")


@blueprint.get("/evidence/<hospital_ura>/<tool_slug>.json")
@login_required(PERMISSION)
def evidence_json(hospital_ura: str, tool_slug: str):
    body = take(hospital_ura, tool_slug, "json", _query(), actor=g.web_actor)
    return Response(body, content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="evidence-{_safe(hospital_ura)}-{_safe(tool_slug)}.json"',
        "Cache-Control": "no-store"})


@blueprint.app_template_global("evidence_keys")
def evidence_keys(hospital_id: int, tool_id: int) -> dict[str, Any] | None:
    """The URA and slug that name a hospital × tool's evidence pack."""
    ura = db().scalar(select(Organisation.ura).where(Organisation.id == hospital_id))
    slug = db().scalar(select(Tool.slug).where(Tool.id == tool_id))
    return {"hospital_ura": ura, "tool_slug": slug} if ura and slug else None
