"""Data-processing agreements (verwerkersovereenkomsten, GDPR Art. 28): read-only here; the legal
workspace adds the lifecycle, documents and signatures to these same pages and routes."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from registry.db.agreements import AgreementStatus, DataProcessingAgreement, SubProcessor
from registry.permissions import Permission
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
    withdrawn_on: date | None


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
    status: str
    status_reason: str | None
    signed_on: date | None
    effective_on: date | None
    ends_on: date | None
    subprocessors: list[SubProcessorOut]
    illustrative: bool


def subprocessors(dpa: DataProcessingAgreement) -> list[SubProcessor]:
    return list(object_session(dpa).scalars(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id)
                                            .order_by(SubProcessor.name)))


def _public(a: DataProcessingAgreement, names) -> dict[str, Any]:  # noqa: ANN001
    data = {k: getattr(a, k) for k in AgreementOut.model_fields if hasattr(a, k) and k not in ("subprocessors",)}
    data.update(controller=_org(names, a.controller_id), processor=_org(names, a.processor_id),
                subprocessors=[SubProcessorOut.model_validate(s, from_attributes=True) for s in subprocessors(a)])
    return AgreementOut(**data).model_dump(mode="json")


def _fields(a: DataProcessingAgreement, names) -> list:  # noqa: ANN001
    subs = [f"{s.name} — {s.role or '—'}, {s.location or '—'}" for s in subprocessors(a)]
    return [
        (_l("Controller (hospital)"), a.controller_id, "org"), (_l("Processor"), a.processor_id, "org"),
        (_l("Status"), ("status", a.status), "badge"), (_l("Reason"), a.status_reason, "text"),
        (_l("Signed on"), a.signed_on, "day"), (_l("Effective from"), a.effective_on, "day"),
        (_l("Ends on (inclusive)"), a.ends_on, "day"), (_l("Purposes"), a.purposes, "list"),
        (_l("Subject"), a.subject, "text"), (_l("Model agreement"), a.model, "text"),
        (_l("Categories of personal data"), a.data_categories, "list"),
        (_l("Data subjects"), a.data_subjects, "list"),
        (_l("Processing locations"), a.processing_locations, "list"),
        (_l("Breach notification (hours)"), a.breach_notification_hours, "text"),
        (_l("Security certificate"), a.security_certificate, "text"),
        (_l("Certificate valid until"), a.security_certificate_expires_on, "day"),
        (_l("Sub-processors"), subs, "lines"),
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
    default_sort="reference", title=lambda a: a.reference,
    public=AgreementOut, to_public=_public, fields=_fields,
    history_refs=lambda a: [("data_processing_agreements", str(a.id))] + [
        ("agreement_subprocessors", str(s.id)) for s in subprocessors(a)],
))
