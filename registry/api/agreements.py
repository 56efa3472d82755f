"""Staff API for data-processing agreements: draft (POST), change the terms (PATCH), move through the
lifecycle (transitions), the reviewer's journal and sub-processors. The reads are the generic
``GET /api/v1/agreements[/<id>]``; every answer here is the same ``AgreementOut``."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from flask import Response, jsonify, request
from pydantic import BaseModel
from pydantic import Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.domain.agreements import CLAUSE_KEYS, Status
from registry.edge import db, registry
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services import agreements as service
from registry.services.errors import NotFound, ValidationFailed
from registry.reports.agreements import agreement_pdf
from registry.validation import Day
from registry.workspace.base import Names
from registry.workspace.types.agreements import AGREEMENTS, AgreementOut, SignatureOut, signatures_out

Text = Annotated[str, Field(max_length=1000)]
Items = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)]
Clauses = Annotated[dict[Literal[CLAUSE_KEYS], Annotated[str, Field(max_length=4000)]],  # type: ignore[valid-type]
                    Field(description="Art. 28(3) clauses by element: " + ", ".join(CLAUSE_KEYS))]
Hours = Annotated[int, Field(ge=1, le=24 * 30)]


class TermsPatch(_Strict):
    """The terms; a PATCH changes only the fields it names."""

    subject: Text | None = None
    model: Annotated[str, Field(max_length=120)] | None = None
    purposes: Items | None = None
    data_categories: Items | None = None
    data_subjects: Items | None = None
    processing_locations: Items | None = None
    transfer_mechanism: Annotated[str, Field(max_length=200)] | None = None
    retention: Annotated[str, Field(max_length=500)] | None = None
    deletion_terms: Text | None = None
    breach_notification_hours: Hours | None = None
    security_certificate: Annotated[str, Field(max_length=200)] | None = None
    security_certificate_expires_on: Day | None = None
    clauses: Clauses | None = None
    effective_on: Day | None = None
    ends_on: Day | None = None


class AgreementIn(TermsPatch):
    """A new agreement: always a draft (there is no status to send)."""

    reference: Annotated[str, Field(min_length=1, max_length=64)]
    controller_id: int
    processor_id: int
    purposes: Items


class TransitionIn(_Strict):
    to: Literal[tuple(Status)]  # type: ignore[valid-type]
    note: Annotated[str, Field(max_length=500)] = ""
    signed_on: Day | None = None
    effective_on: Day | None = None
    ends_on: Day | None = None
    terminated_on: Day | None = None
    deletion_due_on: Day | None = None


class NoteIn(_Strict):
    note: Annotated[str, Field(min_length=1, max_length=4000)]


class NoteOut(_Strict):
    id: int
    author: str
    author_label: str
    note: str
    created_at: str


class SubProcessorIn(_Strict):
    """Art. 28(2): the controller's prior written authorisation, recorded with the sub-processor."""

    approved_on: Day
    approval_reference: Annotated[str, Field(min_length=1, max_length=500)]
    role: Annotated[str, Field(max_length=200)] = ""
    location: Annotated[str, Field(max_length=120)] = ""


class RemovalIn(_Strict):
    last_day: Day | None = None
    note: Annotated[str, Field(max_length=500)] = ""


def _answer(dpa, status: int = 200):  # noqa: ANN001, ANN202
    return jsonify(AGREEMENTS.to_public(dpa, Names(db()))), status


def _id(key: str) -> int:
    if not key.isascii() or not key.isdigit() or len(key) > 18:
        raise NotFound(f"no such object {key[:20]}")
    return int(key)


@blueprint.post("/agreements")
@document("Draft a data-processing agreement", "Staff: agreements", body=AgreementIn, response=AgreementOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_create():
    body = parse_body(AgreementIn)
    session = db()
    dpa = service.create_agreement(session, actor=current_actor(), clock=registry().clock,
                                   **body.model_dump(exclude_unset=True))
    session.commit()
    return _answer(dpa, 201)


@blueprint.patch("/agreements/<key>")
@document("Change the terms of an agreement (approved or signed terms go back to review)", "Staff: agreements",
          body=TermsPatch, response=AgreementOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_update(key: str):
    body = parse_body(TermsPatch)
    session = db()
    dpa = service.update_agreement(session, actor=current_actor(), clock=registry().clock, agreement_id=_id(key),
                                   changes=body.model_dump(exclude_unset=True))
    session.commit()
    return _answer(dpa)


@blueprint.post("/agreements/<key>/transitions")
@document("Move an agreement through its lifecycle", "Staff: agreements", body=TransitionIn,
          response=AgreementOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_transition(key: str):
    body = parse_body(TransitionIn)
    session = db()
    dpa = service.transition_agreement(session, actor=current_actor(), clock=registry().clock,
                                       agreement_id=_id(key), **body.model_dump())
    session.commit()
    return _answer(dpa)


@blueprint.post("/agreements/<key>/notes")
@document("Add a note to an agreement's review journal", "Staff: agreements", body=NoteIn, response=NoteOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_note(key: str):
    body = parse_body(NoteIn)
    session = db()
    note = service.add_agreement_note(session, actor=current_actor(), clock=registry().clock,
                                      agreement_id=_id(key), note=body.note)
    session.commit()
    return jsonify({"id": note.id, "author": note.author, "author_label": note.author_label, "note": note.note,
                    "created_at": note.created_at.isoformat()}), 201


@blueprint.post("/agreements/<key>/subprocessors/<sid>")
@document("Add an organisation as sub-processor, with the controller's recorded approval", "Staff: agreements",
          body=SubProcessorIn, response=AgreementOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_subprocessor_add(key: str, sid: str):
    body = parse_body(SubProcessorIn)
    session = db()
    service.add_subprocessor(session, actor=current_actor(), clock=registry().clock, agreement_id=_id(key),
                             organisation_id=_id(sid), **body.model_dump())
    session.commit()
    return _answer(service.get_agreement(session, actor=current_actor(), agreement_id=_id(key)), 201)


@blueprint.delete("/agreements/<key>/subprocessors/<sid>")
@document("Remove a sub-processor (kept in the history, out of the chain after its last day)",
          "Staff: agreements", body=RemovalIn, response=AgreementOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_subprocessor_remove(key: str, sid: str):
    # A DELETE usually has no body: then today is the last day and there is no note.
    body = parse_body(RemovalIn) if request.get_data() else RemovalIn()
    session = db()
    row = service.current_subprocessor(session, actor=current_actor(), agreement_id=_id(key), organisation_id=_id(sid))
    service.remove_subprocessor(session, actor=current_actor(), clock=registry().clock, agreement_id=_id(key),
                                subprocessor_id=row.id, **body.model_dump())
    session.commit()
    return _answer(service.get_agreement(session, actor=current_actor(), agreement_id=_id(key)))


class DocumentQuery(BaseModel):
    lang: Literal["nl", "en"] = Field(default="nl", description="Dutch, the language agreements are signed in")


@blueprint.get("/agreements/<key>/document.pdf")
@document("The agreement as a PDF, always generated from the current terms (their SHA-256 printed in it)",
          "Staff: agreements", query=DocumentQuery, response_type="application/pdf")
@requires(Permission.AGREEMENTS_READ)
def agreement_document(key: str):
    lang = request.args.get("lang", "nl")
    if lang not in ("nl", "en"):
        raise ValidationFailed("invalid language", {"lang": "nl or en"})
    data = service.document_data(db(), actor=current_actor(), agreement_id=_id(key))
    return pdf_response(agreement_pdf(data, lang), f"{data['reference']}.pdf")


def pdf_response(body: bytes, filename: str) -> Response:
    """A generated PDF: never cached (it follows the terms), named for the save dialog."""
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "-_.") or "document.pdf"
    return Response(body, content_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{safe}"', "Cache-Control": "no-store"})


class DocumentUpload(BaseModel):
    """multipart/form-data with the signed PDF in the part named ``file``."""

    file: str = Field(json_schema_extra={"format": "binary"}, description="the PDF (at most 10 MB)")


class DocumentOut(BaseModel):
    version: int
    filename: str
    sha256: str
    size: int
    uploaded_at: str
    uploaded_by: str
    unreadable: str | None  # why the PDF could not be read for signatures (None: it was read)
    signatures: list[SignatureOut]  # the signatures found in this version, validated on upload
    status: str  # the agreement's status after the upload (signed when it completed the signatures)


def document_out(doc, dpa) -> dict:  # noqa: ANN001
    signatures = [s.model_dump(mode="json") for s in signatures_out(db(), dpa) if s.version == doc.version]
    return {"version": doc.version, "filename": doc.filename, "sha256": doc.sha256, "size": doc.size,
            "uploaded_at": doc.uploaded_at.isoformat(), "uploaded_by": doc.uploaded_by,
            "unreadable": doc.unreadable, "signatures": signatures, "status": dpa.status}


@blueprint.post("/agreements/<key>/documents")
@document("Upload a signed copy as the next version (PDF, kept with its SHA-256, never overwritten); "
          "its PAdES signatures are validated and recorded, and the upload that completes both parties' "
          "valid signatures over the current terms moves an approved agreement to signed",
          "Staff: agreements", body=DocumentUpload, body_type="multipart/form-data", response=DocumentOut)
@requires(Permission.AGREEMENTS_WRITE)
def agreement_document_upload(key: str):
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("no file", {"file": "send the PDF as the multipart part named file"})
    session = db()
    doc = service.upload_agreement_document(session, actor=current_actor(), clock=registry().clock,
                                            agreement_id=_id(key), filename=upload.filename or "",
                                            content=upload.read(service.MAX_DOCUMENT_BYTES + 1),
                                            trust_anchors=registry().trust_anchors)
    session.commit()
    dpa = service.get_agreement(session, actor=current_actor(), agreement_id=_id(key))
    return jsonify(document_out(doc, dpa)), 201


@blueprint.get("/agreements/<key>/documents/<n>")
@document("Download one uploaded version", "Staff: agreements", response_type="application/pdf")
@requires(Permission.AGREEMENTS_READ)
def agreement_document_download(key: str, n: str):
    doc, content = service.agreement_document(db(), actor=current_actor(), agreement_id=_id(key), version=_id(n))
    response = pdf_response(content, doc.filename)
    response.headers["Digest"] = f"sha-256={base64.b64encode(bytes.fromhex(doc.sha256)).decode()}"
    return response
