"""Radiologists' feedback: whether a radiologist agreed with an AI tool's result on a routed study.

A hospital's gateway reports it (``POST /api/v1/feedback``, scope ``feedback:report``) for its own
hospital's decisions only; another hospital's decision does not exist for it (404, as on
``GET /api/v1/decisions/<id>``). Feedback is counted once per (decision, assessor): a repeat —
also one with another assessment — changes nothing and is answered with the stored record,
marked as a duplicate. The (decision_id, assessor) lookup answers the ordinary repeat; the unique
constraint on the table is the backstop when two reports race.

``assessor`` is an opaque identifier the hospital chooses for the radiologist (for example a
keyed hash or a local number): printable ASCII without spaces, at most 64 characters, never an
e-mail address (no ``@``) nor a number that looks like a BSN. The registry can thus count once per
radiologist without learning who the radiologist is.

Like usage events (registry.services.usage), feedback is machine traffic: no ChangeRecord, but the
immutable Feedback row plus one NEN 7513 audit entry (same transaction) saying who reported what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.audit.entries import CREATE, append_entry
from registry.clock import Clock
from registry.db.decisions import Decision
from registry.db.feedback import Feedback
from registry.domain.identifiers import looks_like_bsn
from registry.domain.monitoring import CATEGORIES, study_subgroup
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services.errors import Conflict, NotFound


class NotRouted(Conflict):
    code = "NOT_ROUTED"


class FeedbackIn(_Strict):
    """One radiologist's assessment of one decision (the body of ``POST /api/v1/feedback``)."""

    decision_id: Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]
    # Printable ASCII without spaces: an opaque key, not "Dr. Jansen".
    assessor: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
    assessment: Literal["agree", "disagree", "not-assessed"]
    category: Literal[CATEGORIES] | None = None  # type: ignore[valid-type]

    @field_validator("assessor")
    @classmethod
    def _opaque(cls, value: str) -> str:
        if "@" in value:
            raise ValueError("assessor must be an opaque identifier, not an e-mail address")
        if looks_like_bsn(value):
            raise ValueError("assessor must be an opaque identifier, not a citizen service number")
        return value


def report_feedback(session: Session, *, actor: Actor, clock: Clock,
                    feedback: FeedbackIn) -> tuple[Feedback, bool]:
    """Record one assessment; returns the stored row and whether it was a duplicate.

    Only the decision's own hospital's gateway reports on it. Feedback is about a tool's result,
    so the decision must have routed a study (a permit of ``decide``, not a dry run): anything else
    is ``NOT_ROUTED`` (409). Flushes; the edge commits.
    """
    actor.require(Permission.FEEDBACK_REPORT)
    if actor.kind != "gateway" or actor.hospital_id is None:
        # The hospital's own statement through its gateway: nobody else makes it.
        raise PermissionDenied(Permission.FEEDBACK_REPORT, actor)
    decision = session.get(Decision, feedback.decision_id)
    if decision is None or decision.hospital_id != actor.hospital_id:
        raise NotFound(f"no decision {feedback.decision_id}")
    stored = _stored(session, decision.id, feedback.assessor)
    if stored is not None:
        return stored, True
    if decision.kind != "decide" or decision.outcome != "permit" or decision.dry_run:
        raise NotRouted("this decision routed no study to the tool (a deny, dry run or evaluation); "
                        "there is no result to assess", {"decision_id": "not a permit"})
    now = clock.now()
    row = Feedback(decision_id=decision.id, assessor=feedback.assessor, assessment=feedback.assessment,
                   category=feedback.category, hospital_id=decision.hospital_id, gateway_id=actor.gateway_id,
                   tool_slug=decision.tool_slug, tool_version_id=decision.tool_version_id,
                   received_at=now, **study_subgroup(decision.request))
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Lost a race with the same (decision, assessor) from a concurrent request.
        stored = _stored(session, decision.id, feedback.assessor)
        if stored is None:  # pragma: no cover - a constraint other than the unique one failed
            raise
        return stored, True
    append_entry(session, **_audit(actor, now, decision, row))
    return row, False


def _stored(session: Session, decision_id: str, assessor: str) -> Feedback | None:
    return session.scalar(select(Feedback).where(Feedback.decision_id == decision_id,
                                                 Feedback.assessor == assessor))


def _audit(actor: Actor, now: datetime, decision: Decision, row: Feedback) -> dict[str, Any]:
    """The NEN 7513 entry of one recorded assessment (C on the feedback)."""
    return dict(actor=actor, at=now, event_type="feedback", action_code=CREATE, outcome="success",
                object_type="feedback", object_id=str(row.id),
                objects=[{"type": "feedback", "id": str(row.id)},
                         {"type": "decision", "id": decision.id},
                         {"type": "tool", "id": decision.tool_slug},
                         {"type": "study", "id": decision.study_key, "sensitivity": "opaque-key"}],
                detail={"assessor": row.assessor, "assessment": row.assessment, "category": row.category},
                purpose_of_use=decision.purpose)


def feedback_view(row: Feedback, duplicate: bool) -> dict[str, Any]:
    """The answer to the gateway: the stored record (the first one, for a duplicate)."""
    return {"feedback_id": row.id, "decision_id": row.decision_id, "assessor": row.assessor,
            "assessment": row.assessment, "category": row.category,
            "received_at": row.received_at.isoformat().replace("+00:00", "Z"), "duplicate": duplicate}
