"""Data-processing agreements (verwerkersovereenkomsten), GDPR Art. 28."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field
from registry.domain.agreements import Status as AgreementStatus  # the machine's states

__all__ = ["AgreementDocument", "AgreementDocumentContent", "AgreementNote", "AgreementSignature", "AgreementStatus",
           "DataProcessingAgreement", "SubProcessor"]


class DataProcessingAgreement(SQLModel, table=True):
    """Verwerkersovereenkomst between a hospital (controller) and a processor.

    Carries what Art. 28(3) asks to be set out: subject-matter and duration, nature and purpose,
    type of personal data, categories of data subjects, and the processor's duties (sub-processors
    only with prior written authorisation, 28(2)/(4); breach notification; deletion or return at
    the end of service, 28(3)(g)).
    """

    __tablename__ = "data_processing_agreements"
    __table_args__ = (
        CheckConstraint("status IN ('draft','in_review','approved','signed','suspended','terminated')",
                        name="status"),
        CheckConstraint("deletion_due_on IS NULL OR terminated_on IS NULL OR deletion_due_on >= terminated_on",
                        name="deletion_after_termination"),
        CheckConstraint("ends_on IS NULL OR effective_on IS NULL OR ends_on >= effective_on",
                        name="term_order"),
        CheckConstraint("breach_notification_hours IS NULL OR breach_notification_hours > 0",
                        name="breach_hours_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=64, unique=True)
    controller_id: int = Field(foreign_key="organisations.id", index=True)
    processor_id: int = Field(foreign_key="organisations.id", index=True)
    subject: str = Field(default="", max_length=1000)
    model: str | None = Field(default=None, max_length=120)  # e.g. "BoZ verwerkersovereenkomst 2022"
    purposes: list[str] = json_field(list)  # purpose codes
    data_categories: list[str] = json_field(list)
    data_subjects: list[str] = json_field(list)
    processing_locations: list[str] = json_field(list)
    transfer_mechanism: str | None = Field(default=None, max_length=200)
    retention: str | None = Field(default=None, max_length=500)
    deletion_terms: str | None = Field(default=None, max_length=1000)
    breach_notification_hours: int | None = None
    security_certificate: str | None = Field(default=None, max_length=200)
    security_certificate_expires_on: date | None = None
    signatories: list[dict[str, Any]] = json_field(list)
    status: str = Field(default=AgreementStatus.DRAFT, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    signed_on: date | None = None
    effective_on: date | None = None
    ends_on: date | None = None  # inclusive, Europe/Amsterdam; None = until terminated
    # Art. 28(3) clauses written as text, by element (registry.domain.agreements.CLAUSE_KEYS).
    clauses: dict[str, str] = json_field(dict)
    # Four eyes: who drafted the terms and who last changed them (actor refs) may not approve.
    drafted_by: str | None = Field(default=None, max_length=200)
    terms_changed_by: str | None = Field(default=None, max_length=200)
    terms_changed_at: datetime | None = utc_field(nullable=True)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_terms_hash: str | None = Field(default=None, max_length=64)
    # Ending: the date and the processor's duty to delete or return the data (Art. 28(3)(g)),
    # an open item until someone records it as done, with evidence.
    terminated_on: date | None = None
    deletion_due_on: date | None = None
    deletion_done_on: date | None = None
    deletion_evidence: str | None = Field(default=None, max_length=1000)
    illustrative: bool = False
    created_at: datetime = utc_field()


class AgreementNote(SQLModel, table=True):
    """The reviewer's journal: notes with author and time, apart from the automatic change log."""

    __tablename__ = "agreement_notes"

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="data_processing_agreements.id", index=True)
    author: str = Field(max_length=200)  # actor ref
    author_label: str = Field(default="", max_length=200)
    note: str = Field(max_length=4000)
    created_at: datetime = utc_field()


class SubProcessor(SQLModel, table=True):
    """A sub-processor approved in writing under an agreement (Art. 28(2) and (4))."""

    __tablename__ = "agreement_subprocessors"
    __table_args__ = (UniqueConstraint("agreement_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="data_processing_agreements.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id")
    name: str = Field(max_length=200)
    role: str = Field(default="", max_length=200)
    location: str = Field(default="", max_length=120)
    approved_on: date | None = None  # None: proposed, not (yet) approved
    # Art. 28(2): the controller's prior written authorisation, as recorded (letter, e-mail, minutes).
    approval_reference: str | None = Field(default=None, max_length=500)
    approved_by: str | None = Field(default=None, max_length=200)
    withdrawn_on: date | None = None  # removed from the chain from the day after (row kept)


class AgreementDocument(SQLModel, table=True):
    """A version of the signed document, kept by its SHA-256 so the text can be proven later."""

    __tablename__ = "agreement_documents"
    __table_args__ = (UniqueConstraint("agreement_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="data_processing_agreements.id", index=True)
    version: int
    filename: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    size: int = 0
    uploaded_at: datetime = utc_field()
    uploaded_by: str = Field(default="", max_length=200)
    # Why the PDF could not be read for signatures at all (None: read, see its signatures).
    unreadable: str | None = Field(default=None, max_length=300)


class AgreementDocumentContent(SQLModel, table=True):
    """The bytes of one document version, apart from its description: the change record and the
    audit trail describe the upload (its SHA-256), never copy the file."""

    __tablename__ = "agreement_document_contents"

    document_id: int = Field(foreign_key="agreement_documents.id", primary_key=True)
    content: bytes = Field(sa_type=LargeBinary)


class AgreementSignature(SQLModel, table=True):
    """A PAdES signature found in an uploaded version, as the registry validated it on upload
    (registry.pades): who signed (the certificate), for which party, when, over which printed terms
    hash, and whether it is valid or why not. It counts only when valid, by a party, and over the
    current terms (registry.domain.agreements.counts)."""

    __tablename__ = "agreement_signatures"
    __table_args__ = (
        CheckConstraint("party IS NULL OR party IN ('controller','processor')", name="party"),
        CheckConstraint("(valid AND problem IS NULL) OR (NOT valid AND problem IS NOT NULL)",
                        name="valid_or_problem"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="data_processing_agreements.id", index=True)
    document_id: int = Field(foreign_key="agreement_documents.id", index=True)
    field_name: str = Field(default="", max_length=200)
    signer_name: str = Field(default="", max_length=200)  # the certificate subject's common name
    organisation_name: str = Field(default="", max_length=200)
    organisation_identifier: str = Field(default="", max_length=100)
    subject: str = Field(default="", max_length=500)
    certificate_sha256: str = Field(default="", max_length=64)
    signing_time: datetime | None = utc_field(nullable=True)
    party: str | None = Field(default=None, max_length=16)  # controller, processor, or neither
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id")
    terms_hash: str | None = Field(default=None, max_length=64)  # printed in the revision it covers
    valid: bool
    problem: str | None = Field(default=None, max_length=32)  # registry.pades.PROBLEMS
    detail: str = Field(default="", max_length=500)
    checked_at: datetime = utc_field()
