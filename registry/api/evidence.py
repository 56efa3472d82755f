"""/api/v1/evidence/<hospital_ura>/<tool_slug>.pdf|.json: the evidence pack for an inspector."""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from registry.api import blueprint
from registry.api.agreements import pdf_response
from registry.api.auth import current_actor, parse_query, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.reports.evidence import evidence_json, evidence_pdf
from registry.services.evidence import PERMISSION, take_evidence_pack
from registry.validation import Day


class EvidenceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    since: Day | None = Field(default=None, alias="from",
                              description="first day of the decisions counted (default: 90 days before 'to')")
    until: Day | None = Field(default=None, alias="to", description="last day, inclusive (default: today)")
    lang: Literal["nl", "en"] = Field(default="nl", description="the PDF's language (Dutch by default)")


def take(hospital_ura: str, tool_slug: str, fmt: str, query: EvidenceQuery, actor=None) -> bytes:  # noqa: ANN001
    """Shared with the web page (which passes its actor): build, render and log the pack;
    commits (the checkpoint and the access entry)."""
    reg = registry()
    session = db()
    render = evidence_json if fmt == "json" else (lambda pack: evidence_pdf(pack, query.lang))
    body = take_evidence_pack(session, actor=actor or current_actor(), clock=reg.clock, engine=reg.policy, signer=reg.signer,
                              issuer=reg.settings.issuer, hospital_ura=hospital_ura, tool_slug=tool_slug,
                              fmt=fmt, render=render, since=query.since, until=query.until)
    session.commit()
    return body


@blueprint.get("/evidence/<hospital_ura>/<tool_slug>.json")
@document("The evidence pack of a hospital's use of a tool, as JSON, with the signed audit checkpoint it "
          "verifies against", "Evidence", query=EvidenceQuery)
@requires(PERMISSION)
def evidence_pack_json(hospital_ura: str, tool_slug: str):
    body = take(hospital_ura, tool_slug, "json", parse_query(EvidenceQuery))
    return Response(body, content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="evidence-{_safe(hospital_ura)}-{_safe(tool_slug)}.json"',
        "Cache-Control": "no-store"})


@blueprint.get("/evidence/<hospital_ura>/<tool_slug>.pdf")
@document("The evidence pack of a hospital's use of a tool, as a PDF (Dutch; English with lang=en)",
          "Evidence", query=EvidenceQuery, response_type="application/pdf")
@requires(PERMISSION)
def evidence_pack_pdf(hospital_ura: str, tool_slug: str):
    body = take(hospital_ura, tool_slug, "pdf", parse_query(EvidenceQuery))
    return pdf_response(body, f"evidence-{hospital_ura}-{tool_slug}.pdf")


def _safe(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or ch in "-_")[:64]
