"""Data-processing agreements (verwerkersovereenkomsten), GDPR Art. 28."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class AgreementStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"  # with legal
    SIGNED = "signed"
    TERMINATED = "terminated"


class DataProcessingAgreement(SQLModel, table=True):
    """Verwerkersovereenkomst between a hospital (controller) and a processor.

    Carries what Art. 28(3) asks to be set out: subject-matter and duration, nature and purpose,
    type of personal data, categories of data subjects, and the processor's duties (sub-processors
    only with prior written authorisation, 28(2)/(4); breach notification; deletion or return at
    the end of service, 28(3)(g)).
    """

    __tablename__ = "data_processing_agreements"
    __table_args__ = (
        CheckConstraint("status IN ('draft','in_review','signed','terminated')", name="status"),
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
    illustrative: bool = False
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
    withdrawn_on: date | None = None


class AgreementDocument(SQLModel, table=True):
    """A version of the signed document, kept by its SHA-256 so the text can be proven later."""

    __tablename__ = "agreement_documents"
    __table_args__ = (UniqueConstraint("agreement_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="data_processing_agreements.id", index=True)
    version: int
    filename: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    uploaded_at: datetime = utc_field()
    uploaded_by: str = Field(default="", max_length=200)
