"""Radiologists' feedback on routed studies: agree, disagree or not assessed, once per assessor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import utc_field


class Feedback(SQLModel, table=True):
    """One radiologist's assessment of one decision's AI result, as the hospital's gateway reported it.

    ``assessor`` is an opaque identifier the hospital chose for the radiologist (never a name or an
    e-mail address). The study's subgroup (age band, sex, modality), the hospital and the tool
    version are copied from the decision when the feedback arrives: a decision never changes, and
    the monitoring then counts them with a plain GROUP BY on both databases instead of reaching
    into the decision's JSON (registry.services.monitoring). No pseudonym or study key is kept here.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        # Counted once per decision and assessor; a repeat finds the first (registry.services.feedback).
        UniqueConstraint("decision_id", "assessor"),
        CheckConstraint("assessment IN ('agree','disagree','not-assessed')", name="assessment"),
        Index("ix_feedback_tool_version", "tool_slug", "tool_version_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(foreign_key="decisions.id", max_length=36)
    assessor: str = Field(max_length=64)
    assessment: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=32)
    hospital_id: int = Field(foreign_key="organisations.id", index=True)
    gateway_id: int | None = Field(default=None, foreign_key="gateways.id")
    tool_slug: str = Field(max_length=64)
    tool_version_id: int | None = Field(default=None, foreign_key="tool_versions.id")
    age_band: str | None = Field(default=None, max_length=16)
    sex: str | None = Field(default=None, max_length=1)
    modality: str | None = Field(default=None, max_length=16)
    received_at: datetime = utc_field()
