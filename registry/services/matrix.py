"""The national routing matrix: hospitals × tools, the answer on the terms alone for a day.

It is the decision engine itself — the same snapshot (``load_snapshot``) and the same Cedar
policies as ``POST /api/v1/decisions`` — asked without a study, as the offline bundle asks:
intended use and objections are set aside (``terms_only``). Nothing is stored: no Decision row,
no quota reserved, no audit entry (it is a view of the terms, which every staff member with
``decisions:read`` may see anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.consent import Purpose
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.intended_use import Study
from registry.permissions import Permission
from registry.policy.engine import PolicyEngine
from registry.policy.facts import Snapshot, compute_facts, explain, terms_only
from registry.schemas import DecisionIn
from registry.scope import restrict, scope_of
from registry.services.decisions import load_snapshot
from registry.services.errors import ValidationFailed

HOSPITALS_PER_PAGE = 50
NOT_CONTRACTED = "not_contracted"


@dataclass
class Cell:
    hospital: Organisation
    tool: Tool
    decision: str  # "permit", "deny" or "not_contracted"
    reasons: list[dict[str, Any]]
    rules: list[str]
    snapshot: Snapshot = field(repr=False)

    @property
    def state(self) -> str:
        """What the page shows: a hospital without a call-off for the tool is not contracted (grey),
        which is a different thing from a contract that fails (red)."""
        if self.decision == "deny" and self.snapshot.licence is None:
            return NOT_CONTRACTED
        return self.decision


@dataclass
class Matrix:
    on: date
    purpose: str
    tools: list[Tool]
    versions: dict[int, ToolVersion | None]
    rows: list[tuple[Organisation, list[Cell]]]
    total_hospitals: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total_hospitals // HOSPITALS_PER_PAGE))


def _check_purpose(session: Session, purpose: str) -> None:
    if session.get(Purpose, purpose) is None:
        known = ", ".join(session.scalars(select(Purpose.code).order_by(Purpose.code)))
        raise ValidationFailed("unknown purpose", {"purpose": f"one of {known}"})


def evaluate_cell(session: Session, *, engine: PolicyEngine, hospital: Organisation, tool: Tool,
                  purpose: str, on: date) -> Cell:
    """One cell: the decision engine on the terms for ``hospital`` and ``tool``'s default version."""
    request = DecisionIn(tool=tool.slug, purpose=purpose, study={"study_key": "routing-matrix"})
    snap = load_snapshot(session, hospital=hospital, gateway=None, request=request, day=on)
    facts = compute_facts(snap, Study())
    verdict = engine.evaluate("routing-matrix", tool.slug, terms_only(facts.context))
    reasons = [] if verdict.permit else [explain(code, snap, facts) for code in verdict.failed]
    return Cell(hospital, tool, "permit" if verdict.permit else "deny", reasons, list(verdict.rules), snap)


def routing_matrix(session: Session, *, actor: Actor, engine: PolicyEngine, on: date, purpose: str,
                   page: int = 1) -> Matrix:
    """The matrix for the hospitals and tools the actor may see, hospitals paginated by 50."""
    actor.require(Permission.DECISIONS_READ)
    _check_purpose(session, purpose)
    scope = scope_of(session, actor)
    hospitals_q = restrict(select(Organisation).where(Organisation.kind == "hospital"), scope, Organisation)
    total = session.scalar(select(func.count()).select_from(hospitals_q.subquery())) or 0
    hospitals = list(session.scalars(hospitals_q.order_by(Organisation.name)
                                     .limit(HOSPITALS_PER_PAGE).offset((page - 1) * HOSPITALS_PER_PAGE)))
    tools = list(session.scalars(restrict(select(Tool), scope, Tool).order_by(Tool.name)))
    versions = {t.id: session.scalar(select(ToolVersion).where(ToolVersion.tool_id == t.id,
                                                               ToolVersion.is_default)) for t in tools}
    rows = [(h, [evaluate_cell(session, engine=engine, hospital=h, tool=t, purpose=purpose, on=on)
                 for t in tools]) for h in hospitals]
    return Matrix(on, purpose, tools, versions, rows, total, page)


def explain_cell(session: Session, *, actor: Actor, engine: PolicyEngine, hospital_ura: str,
                 tool_slug: str, purpose: str, on: date) -> Cell:
    """One cell with what decided it, for a hospital and tool the actor may see."""
    actor.require(Permission.DECISIONS_READ)
    _check_purpose(session, purpose)
    scope = scope_of(session, actor)
    hospital = session.scalar(restrict(select(Organisation).where(
        Organisation.kind == "hospital", Organisation.ura == hospital_ura), scope, Organisation))
    tool = session.scalar(restrict(select(Tool).where(Tool.slug == tool_slug), scope, Tool))
    if hospital is None or tool is None:
        from registry.services.errors import NotFound

        raise NotFound("no such hospital or tool")
    return evaluate_cell(session, engine=engine, hospital=hospital, tool=tool, purpose=purpose, on=on)
