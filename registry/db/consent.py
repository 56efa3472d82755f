"""Purposes of processing and patients' objections (keyed by pseudonym, never by BSN)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from registry.db.base import utc_field


class Purpose(SQLModel, table=True):
    """Code list of purposes (FHIR Consent provision.purpose in spirit)."""

    __tablename__ = "purposes"

    code: str = Field(primary_key=True, max_length=40)
    label_en: str = Field(max_length=120)
    label_nl: str = Field(max_length=120)
    active: bool = True
    # AI Act Art. 26: routing for this purpose needs the hospital's approved clinical deployment.
    requires_deployment: bool = False


class PatientObjection(SQLModel, table=True):
    """A patient's objection to AI processing for one purpose at one hospital.

    FHIR Consent with ``provision.type = deny`` for a purpose. One row per purpose so the
    decision path finds it with one indexed lookup; ``objection_ref`` groups the rows of one
    recorded objection.
    """

    __tablename__ = "patient_objections"
    __table_args__ = (Index("ix_patient_objections_lookup", "hospital_id", "pseudonym", "purpose"),)

    id: int | None = Field(default=None, primary_key=True)
    objection_ref: str = Field(max_length=64, index=True)
    hospital_id: int = Field(foreign_key="organisations.id")
    pseudonym: str = Field(max_length=128)  # keyed hash agreed between hospital and gateway
    purpose: str = Field(foreign_key="purposes.code", max_length=40)
    recorded_on: date
    withdrawn_on: date | None = None  # inclusive last day of the objection
    # Why it ended: the patient withdrew it, or the hospital rotated its key and replaced its set.
    withdrawn_reason: str | None = Field(default=None, max_length=200)
    source: str = Field(default="ui", max_length=16)  # ui, api, csv, fhir, demo
    created_at: datetime = utc_field()
