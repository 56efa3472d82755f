"""Data-processing agreements (verwerkersovereenkomsten, GDPR Art. 28): the one description of the
object for its list and detail pages and its JSON; the legal workspace's forms and transitions
(registry/web/agreements.py, registry/api/agreements.py) work on these same pages and routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from registry.db.agreements import (AgreementDocument, AgreementSignature, AgreementStatus, DataProcessingAgreement,
                                    SubProcessor)
from registry.domain.agreements import allowed_from, checklist, standing
from registry.domain.terms import term_date
from registry.edge import registry
from registry.permissions import Permission
from registry.services.agreements import current_terms_hash, terms_of
from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, contains, register
from registry.workspace.types.contracts import _org
from registry.workspace.types.gateways import _int_filter, hospital_options
from registry.workspace.types.organisations import _options


class SubProcessorOut(BaseModel):
    id: int
    name: str
    organisation_id: int | None
    role: str
    location: str
    approved_on: date | None
    approval_reference: str | None
    withdrawn_on: date | None


class SignatureOut(BaseModel):
    """A PAdES signature found in an uploaded version: who (the certificate), which party, when,
    valid or why not, and whether it counts for the current terms."""

    version: int  # the uploaded document version it is in
    signer_name: str
    organisation_name: str
    organisation_identifier: str
    subject: str
    certificate_sha256: str
    party: str | None  # controller, processor, or None: the certificate names neither party
    signing_time: datetime | None
    terms_hash: str | None  # printed in the revision the signature covers
    valid: bool
    problem: str | None  # altered, untrusted, certificate, signing_time, unsupported
    detail: str
    counts: bool  # valid, by a party, over the current terms


def signatures_out(session, dpa: DataProcessingAgreement) -> list[SignatureOut]:  # noqa: ANN001
    from registry.services.agreements import signature_rows_with_counts

    versions = {d.id: d.version for d in session.scalars(
        select(AgreementDocument).where(AgreementDocument.agreement_id == dpa.id))}
    return [SignatureOut(version=versions[s.document_id], counts=counted,
                         **{k: getattr(s, k) for k in SignatureOut.model_fields if k not in ("version", "counts")})
            for s, counted in signature_rows_with_counts(session, dpa)]


class ChecklistItemOut(BaseModel):
    key: str
    article: str
    present: bool


class AgreementOut(BaseModel):
    id: int
    reference: str
    controller: dict[str, Any]
    processor: dict[str, Any]
    subject: str
    model: str | None
    purposes: list[str]
    data_categories: list[str]
    data_subjects: list[str]
    processing_locations: list[str]
    breach_notification_hours: int | None
    security_certificate: str | None
    security_certificate_expires_on: date | None
    clauses: dict[str, str]
    status: str
    status_reason: str | None
    standing: str  # the status, or for a signed agreement: in_force, not_yet_in_force, expired
    allowed_transitions: list[str]
    signed_on: date | None
    effective_on: date | None
    ends_on: date | None
    drafted_by: str | None
    terms_changed_by: str | None
    approved_by: str | None
    terminated_on: date | None
    deletion_due_on: date | None
    deletion_done_on: date | None
    terms_hash: str
    checklist: list[ChecklistItemOut]
    subprocessors: list[SubProcessorOut]
    illustrative: bool
    signatures: list[SignatureOut]  # additive (docs/changelog.md, 2026-11-29)
    signed_by: list[str]  # the parties whose signatures count for the current terms


def actor_label(ref: str | None) -> str | None:
    """An actor reference in words on the page (the same words as the audit trail's)."""
    if not ref:
        return None
    from registry.web.objects import actor_name

    return actor_name(ref)


def subprocessors(dpa: DataProcessingAgreement) -> list[SubProcessor]:
    return list(object_session(dpa).scalars(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id)
                                            .order_by(SubProcessor.name)))


def _evidence_refs(a: DataProcessingAgreement) -> list[tuple[str, str]]:
    """The uploaded copies and the signatures found in them, for the agreement's history."""
    session = object_session(a)
    documents = session.scalars(select(AgreementDocument.id).where(AgreementDocument.agreement_id == a.id))
    signatures = session.scalars(select(AgreementSignature.id).where(AgreementSignature.agreement_id == a.id))
    return [("agreement_documents", str(i)) for i in documents] + [("agreement_signatures", str(i)) for i in signatures]


def _today(a: DataProcessingAgreement) -> date:
    return term_date(registry().clock.now())


def _public(a: DataProcessingAgreement, names) -> dict[str, Any]:  # noqa: ANN001
    data = {k: getattr(a, k) for k in AgreementOut.model_fields if hasattr(a, k) and k not in ("subprocessors",)}
    session = object_session(a)
    signatures = signatures_out(session, a)
    data.update(controller=_org(names, a.controller_id), processor=_org(names, a.processor_id),
                subprocessors=[SubProcessorOut.model_validate(s, from_attributes=True) for s in subprocessors(a)],
                standing=standing(a.status, a.effective_on, a.ends_on, _today(a)),
                allowed_transitions=allowed_from(a.status), terms_hash=current_terms_hash(session, a),
                checklist=[ChecklistItemOut(key=i.key, article=i.article, present=i.present)
                           for i in checklist(terms_of(a))],
                signatures=signatures, signed_by=sorted({s.party for s in signatures if s.counts}))
    return AgreementOut(**data).model_dump(mode="json")


def _fields(a: DataProcessingAgreement, names) -> list:  # noqa: ANN001
    return [
        (_l("Controller (hospital)"), a.controller_id, "org"), (_l("Processor"), a.processor_id, "org"),
        (_l("Status"), ("status", a.status), "badge"), (_l("Reason"), a.status_reason, "text"),
        (_l("Standing today"), ("standing", standing(a.status, a.effective_on, a.ends_on, _today(a))), "badge"),
        (_l("Signed on"), a.signed_on, "day"), (_l("Effective from"), a.effective_on, "day"),
        (_l("Ends on (inclusive)"), a.ends_on, "day"), (_l("Purposes"), a.purposes, "list"),
        (_l("Subject"), a.subject, "text"), (_l("Model agreement"), a.model, "text"),
        (_l("Categories of personal data"), a.data_categories, "list"),
        (_l("Data subjects"), a.data_subjects, "list"),
        (_l("Processing locations"), a.processing_locations, "list"),
        (_l("Breach notification (hours)"), a.breach_notification_hours, "text"),
        (_l("Security certificate"), a.security_certificate, "text"),
        (_l("Certificate valid until"), a.security_certificate_expires_on, "day"),
        (_l("Terminated on"), a.terminated_on, "day"),
        (_l("Data to be deleted or returned by"), a.deletion_due_on, "day"),
        (_l("Deletion or return recorded on"), a.deletion_done_on, "day"),
        (_l("Evidence of deletion or return"), a.deletion_evidence, "text"),
        (_l("Drafted by"), actor_label(a.drafted_by), "text"),
        (_l("Terms last changed by"), actor_label(a.terms_changed_by), "text"),
        (_l("Approved by"), actor_label(a.approved_by), "text"),
        (_l("SHA-256 of the terms"), current_terms_hash(object_session(a), a), "code"),
    ]


AGREEMENTS = register(ObjectType(
    key="agreements", model=DataProcessingAgreement, singular=_l("data-processing agreement"),
    plural=_l("Agreements"), read=Permission.AGREEMENTS_READ, write=Permission.AGREEMENTS_WRITE,
    columns=[
        Column("reference", _l("Reference"), sort=DataProcessingAgreement.reference, kind="link"),
        Column("controller_id", _l("Controller (hospital)"), kind="org"),
        Column("processor_id", _l("Processor"), kind="org"),
        Column("effective_on", _l("Effective from"), sort=DataProcessingAgreement.effective_on, kind="day"),
        Column("ends_on", _l("Ends on"), sort=DataProcessingAgreement.ends_on, kind="day"),
        Column("status", _l("Status"), sort=DataProcessingAgreement.status, kind="badge", enum="status"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(DataProcessingAgreement.controller_id),
               options=hospital_options, kind="select"),
        Filter("status", _l("Status"), lambda s, v: s.where(DataProcessingAgreement.status == v),
               options=_options("status", AgreementStatus), kind="select"),
    ],
    search=lambda q: or_(DataProcessingAgreement.reference == q, contains(DataProcessingAgreement.reference, q)),
    default_sort="reference", title=lambda a: a.reference, create_endpoint="web.agreements_new",
    public=AgreementOut, to_public=_public, fields=_fields,
    history_refs=lambda a: [("data_processing_agreements", str(a.id))] + [
        ("agreement_subprocessors", str(s.id)) for s in subprocessors(a)] + _evidence_refs(a),
))
