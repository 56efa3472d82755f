"""Clinical governance under the EU AI Act: a hospital's deployment of a tool (its go-live
decision and the deployer's checklist, Art. 26), incidents with their legal deadlines, and the
vendor's field-safety notices."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class DeploymentStatus(StrEnum):
    DRAFT = "draft"  # the checklist is being filled in; not live
    APPROVED = "approved"  # go-live approved by the hospital's clinical owner
    SUSPENDED = "suspended"  # use suspended (Art. 26(5)); resumed with a reason


class Deployment(SQLModel, table=True):
    """A hospital's decision to use one tool clinically, for the versions it names.

    One row per hospital × tool (the unique index is also the decision path's lookup); its status
    cycles through draft, approved and suspended, and its history is in the change records.
    """

    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("hospital_id", "tool_id"),
        CheckConstraint("status IN ('draft','approved','suspended')", name="status"),
        CheckConstraint("ifu_sha256 IS NULL OR length(ifu_sha256) = 64", name="ifu_sha256_hex"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="organisations.id")
    tool_id: int = Field(foreign_key="tools.id", index=True)
    versions: list[str] = json_field(list)  # the tool versions this decision covers
    # The deployer's checklist (AI Act Art. 26; GDPR Art. 35).
    ifu_document: str | None = Field(default=None, max_length=300)  # Art. 26(1): instructions for use
    ifu_sha256: str | None = Field(default=None, max_length=64)
    overseers: list[dict[str, Any]] = json_field(list)  # Art. 26(2), Art. 4: name, role, trained_on
    dpia_reference: str | None = Field(default=None, max_length=120)  # Art. 26(9), GDPR Art. 35
    dpia_date: date | None = None
    works_council_informed_on: date | None = None  # Art. 26(7)
    acceptance_cases: int | None = None  # local acceptance test
    acceptance_agreement_pct: int | None = None  # agreement with the radiologists, in %
    acceptance_date: date | None = None
    acceptance_by: str | None = Field(default=None, max_length=200)
    monitoring_plan: str | None = Field(default=None, max_length=2000)  # Art. 26(5)
    art27_applicable: bool | None = None  # fundamental-rights impact assessment
    art49_applicable: bool | None = None  # EU database registration
    # Everyone who changed the checklist since the last approval: none of them may approve it.
    prepared_by: list[str] = json_field(list)
    status: str = Field(default=DeploymentStatus.DRAFT, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    status_since: date | None = None
    approved_by: str | None = Field(default=None, max_length=120)
    approved_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field()


class IncidentKind(StrEnum):
    MALFUNCTION = "malfunction"
    RISK = "risk"
    SERIOUS_INCIDENT = "serious_incident"


class Incident(SQLModel, table=True):
    """A malfunction, a risk or a serious incident, against a hospital's deployment or a version."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("kind IN ('malfunction','risk','serious_incident')", name="kind"),
        CheckConstraint("status IN ('open','closed')", name="status"),
        CheckConstraint("action IN ('none','suspend_deployment','suspend_version')", name="action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)
    kind: str = Field(max_length=24)
    # For serious incidents: which MDR Art. 87 period applies (public_health_threat, death_or_serious
    # _deterioration, other).
    severity: str | None = Field(default=None, max_length=40)
    hospital_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    deployment_id: int | None = Field(default=None, foreign_key="deployments.id", index=True)
    tool_id: int = Field(foreign_key="tools.id", index=True)
    tool_version_id: int | None = Field(default=None, foreign_key="tool_versions.id")
    description: str = Field(max_length=4000)
    occurred_on: date
    aware_on: date  # the legal periods run from when the hospital became aware
    action: str = Field(default="none", max_length=24)
    status: str = Field(default="open", max_length=16)
    reported_by: str = Field(max_length=120)
    created_at: datetime = utc_field()


class IncidentDuty(SQLModel, table=True):
    """An open item an incident creates (tell the provider, the vigilance report, the authority),
    closed only by recording who was told what and when."""

    __tablename__ = "incident_duties"
    __table_args__ = (UniqueConstraint("incident_id", "duty"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    duty: str = Field(max_length=40)
    legal_basis: str = Field(max_length=200)
    due_on: date = Field(index=True)
    told_whom: str | None = Field(default=None, max_length=300)
    told_what: str | None = Field(default=None, max_length=2000)
    told_on: date | None = None
    recorded_by: str | None = Field(default=None, max_length=120)
    closed_at: datetime | None = utc_field(nullable=True)
    reminded_at: datetime | None = utc_field(nullable=True)  # the "deadline due" webhook went out


class FieldSafetyNotice(SQLModel, table=True):
    """A vendor's field-safety notice (FSN, MDR Art. 89) for some versions of a tool."""

    __tablename__ = "field_safety_notices"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=80, unique=True)
    tool_id: int = Field(foreign_key="tools.id", index=True)
    versions: list[str] = json_field(list)
    title: str = Field(max_length=300)
    issued_on: date
    summary: str = Field(default="", max_length=4000)
    document_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_field()
