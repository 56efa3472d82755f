"""What-if: how many recent decisions would a change of terms turn around?

Before a version or a deployment is suspended, a licence is ended, an agreement terminated or a
new set of policy files is loaded, each decision of the last N days (default 30) is evaluated
again on its own day, twice: once on the terms as they stand (the baseline) and once with the
change applied. The preview counts the decisions whose answer differs (permit → deny and
deny → permit), by hospital and tool. Comparing with the baseline rather than with the stored
answer isolates the effect of *this* change from everything else that changed since.

The change is applied through its normal service inside a SAVEPOINT that is always rolled back
(so the service's own checks, permission included, hold for the preview too), and the decisions
are re-evaluated with the decision path's own snapshot and policies (``load_snapshot``,
``compute_facts``, ``PolicyEngine``) in dry-run: no quota reserved, no Decision row, no audit
entry. The terms are read through a private view, never the process's :class:`TermsCache`, which
must not keep terms of a revision that is rolled back. A new set of policy files needs no
savepoint: the same decisions are evaluated with the other engine.

The quota is taken as the decision found it (from its stored facts): a permit that used the last
unit is not turned into a deny by its own reservation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.decisions import Decision
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.policy.engine import PolicyEngine
from registry.schemas import DecisionIn
from registry.scope import restrict, scope_of
from registry.services.decisions import _evaluate, _gateway_and_hospital, load_snapshot
from registry.services.errors import ValidationFailed
from registry.services.terms_cache import TermsView

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class StoredDecision:
    """What re-evaluating a stored decision needs, as plain values (they outlive the savepoint)."""

    id: str
    day: date
    hospital_id: int
    gateway_id: int | None
    tool_slug: str
    principal: str
    request: dict[str, Any]
    facts: dict[str, Any]
    refs: dict[str, Any]


@dataclass
class PairCount:
    hospital: str
    tool: str
    to_deny: int = 0
    to_permit: int = 0


@dataclass
class WhatIf:
    """The preview: over ``since``..``until`` (inclusive), ``evaluated`` decisions, of which
    ``to_deny`` would turn from permit to deny and ``to_permit`` from deny to permit."""

    days: int
    since: date
    until: date
    evaluated: int = 0
    to_deny: int = 0
    to_permit: int = 0
    pairs: list[PairCount] = field(default_factory=list)
    changed_ids: dict[str, str] = field(default_factory=dict)  # decision id → its new outcome

    @property
    def changed(self) -> int:
        return self.to_deny + self.to_permit

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "since": self.since.isoformat(), "until": self.until.isoformat(),
                "evaluated": self.evaluated, "to_deny": self.to_deny, "to_permit": self.to_permit,
                "by_hospital_and_tool": [p.__dict__ for p in self.pairs]}


def _days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed("invalid period", {"days": f"from 1 to {MAX_DAYS}"})
    return days


def recent_decisions(session: Session, *, actor: Actor, clock: Clock, days: int = DEFAULT_DAYS,
                     hospital_id: int | None = None, tool_slug: str | None = None) -> list[StoredDecision]:
    """The gateways' decisions (not staff evaluations) of the last ``days`` days up to today, that
    the actor may see, optionally of one hospital and/or tool."""
    until = term_date(clock.now())
    since = until - timedelta(days=_days(days) - 1)
    stmt = select(Decision).where(Decision.kind == "decide", Decision.evaluated_on >= since,
                                  Decision.evaluated_on <= until)
    if hospital_id is not None:
        stmt = stmt.where(Decision.hospital_id == hospital_id)
    if tool_slug is not None:
        stmt = stmt.where(Decision.tool_slug == tool_slug)
    stmt = restrict(stmt, scope_of(session, actor), Decision).order_by(Decision.decided_at, Decision.id)
    return [StoredDecision(d.id, d.evaluated_on, d.hospital_id, d.gateway_id, d.tool_slug,
                           d.actor.split(":", 1)[-1], dict(d.request), dict(d.facts or {}), dict(d.refs or {}))
            for d in session.scalars(stmt)]


def reevaluate(session: Session, *, engine: PolicyEngine, decisions: Iterable[StoredDecision]) -> dict[str, bool]:
    """Each decision evaluated again on its own day against the terms in this transaction now:
    decision id → permit? Reads only; one private terms view for the whole pass (the terms do not
    change during it)."""
    view = TermsView(session, {})
    out: dict[str, bool] = {}
    for d in decisions:
        request = DecisionIn.model_validate(d.request)
        version = (d.refs.get("tool_version") or {}).get("version")
        if request.tool_version is None and version:
            # The version it was decided for, even if the default has moved since.
            request = request.model_copy(update={"tool_version": version})
        if d.gateway_id is not None:
            gateway, hospital = _gateway_and_hospital(view, d.gateway_id)
        else:
            gateway, hospital = None, session.get(Organisation, d.hospital_id)
        snap = load_snapshot(session, hospital=hospital, gateway=gateway, request=request, day=d.day, view=view)
        stored = d.facts.get("licence") or {}
        if snap.licence is not None and snap.licence.quota_limit is not None and stored.get("quota_limited"):
            # The quota as the decision found it, not as it stands after its own reservation.
            snap.quota_used = max(snap.licence.quota_limit - int(stored.get("quota_remaining") or 0), 0)
        _facts, verdict = _evaluate(engine, snap, request, d.principal)
        out[d.id] = verdict.permit
    return out


def compare(session: Session, decisions: list[StoredDecision], before: dict[str, bool],
            after: dict[str, bool], *, days: int, until: date) -> WhatIf:
    """Count the decisions whose answer differs between ``before`` and ``after``."""
    result = WhatIf(days=days, since=until - timedelta(days=days - 1), until=until, evaluated=len(decisions))
    counts: dict[tuple[int, str], PairCount] = {}
    names = _names(session, decisions)
    for d in decisions:
        if before[d.id] == after[d.id]:
            continue
        pair = counts.get((d.hospital_id, d.tool_slug))
        if pair is None:
            pair = counts[(d.hospital_id, d.tool_slug)] = PairCount(*names(d))
        if before[d.id]:
            pair.to_deny += 1
            result.to_deny += 1
        else:
            pair.to_permit += 1
            result.to_permit += 1
        result.changed_ids[d.id] = "permit" if after[d.id] else "deny"
    result.pairs = sorted(counts.values(), key=lambda p: (-(p.to_deny + p.to_permit), p.hospital, p.tool))
    return result


def _names(session: Session, decisions: list[StoredDecision]) -> Callable[[StoredDecision], tuple[str, str]]:
    hospitals = {o.id: o.name for o in session.scalars(
        select(Organisation).where(Organisation.id.in_({d.hospital_id for d in decisions})))}
    tools = {t.slug: t.name for t in session.scalars(
        select(Tool).where(Tool.slug.in_({d.tool_slug for d in decisions})))}
    return lambda d: (hospitals.get(d.hospital_id, str(d.hospital_id)), tools.get(d.tool_slug, d.tool_slug))


def preview(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
            change: Callable[[Session], Any] | None = None, policies: PolicyEngine | None = None,
            days: int = DEFAULT_DAYS, hospital_id: int | None = None,
            tool_slug: str | None = None) -> WhatIf:
    """The preview of ``change`` (a call of the normal service, made inside a savepoint that is
    rolled back) and/or of the policy set ``policies``. Only decisions of ``hospital_id`` and
    ``tool_slug`` are looked at when the change cannot touch others. Nothing is stored; a change
    the actor may not make raises as the service does."""
    actor.require(Permission.DECISIONS_READ)
    days = _days(days)
    decisions = recent_decisions(session, actor=actor, clock=clock, days=days,
                                 hospital_id=hospital_id, tool_slug=tool_slug)
    session.flush()  # nothing pending may slip into the savepoint and be rolled back with it
    before = reevaluate(session, engine=engine, decisions=decisions)
    if change is None:
        after = reevaluate(session, engine=policies or engine, decisions=decisions)
    else:
        savepoint = session.begin_nested()
        try:
            change(session)
            session.flush()
            after = reevaluate(session, engine=policies or engine, decisions=decisions)
        finally:
            savepoint.rollback()
    return compare(session, decisions, before, after, days=days, until=term_date(clock.now()))


# -- the changes the workspace previews -------------------------------------------------------------

_REASON = "what-if preview"


def preview_version_suspension(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                               tool_version_id: int, days: int = DEFAULT_DAYS) -> WhatIf:
    """Suspending a tool version, for every hospital."""
    from registry.db.tools import ToolVersion
    from registry.services.tools import suspend_tool_version

    tv = session.get(ToolVersion, tool_version_id)
    tool = session.get(Tool, tv.tool_id) if tv is not None else None
    return preview(session, actor=actor, clock=clock, engine=engine, days=days,
                   tool_slug=tool.slug if tool is not None else None,
                   change=lambda s: suspend_tool_version(s, actor=actor, clock=clock,
                                                         tool_version_id=tool_version_id, reason=_REASON))


def preview_deployment_suspension(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                                  deployment_id: int, days: int = DEFAULT_DAYS) -> WhatIf:
    """Suspending one hospital's deployment of a tool."""
    from registry.services.deployments import get_deployment, suspend_deployment

    dep = get_deployment(session, actor=actor, deployment_id=deployment_id)
    tool = session.get(Tool, dep.tool_id)
    return preview(session, actor=actor, clock=clock, engine=engine, days=days,
                   hospital_id=dep.hospital_id, tool_slug=tool.slug,
                   change=lambda s: suspend_deployment(s, actor=actor, clock=clock,
                                                       deployment_id=deployment_id, reason=_REASON))


def _licence_target(session: Session, licence_id: int) -> dict[str, Any]:
    """The decisions a licence change can touch: its hospital's, for its tool (none if unknown)."""
    from registry.db.contracts import Licence

    licence = session.get(Licence, licence_id)
    tool = session.get(Tool, licence.tool_id) if licence is not None else None
    return {"hospital_id": licence.hospital_id if licence is not None else None,
            "tool_slug": tool.slug if tool is not None else None}


def preview_licence_change(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                           licence_id: int, changes: dict[str, Any], days: int = DEFAULT_DAYS) -> WhatIf:
    """Amending a licence — ending it early is a new, earlier ``ends_on``."""
    from registry.services.contracts import amend_licence

    return preview(session, actor=actor, clock=clock, engine=engine, days=days,
                   **_licence_target(session, licence_id),
                   change=lambda s: amend_licence(s, actor=actor, clock=clock, licence_id=licence_id,
                                                  changes=changes, message=_REASON))


def preview_licence_status(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                           licence_id: int, status: str, days: int = DEFAULT_DAYS) -> WhatIf:
    """Suspending or terminating a licence (its status)."""
    from registry.services.contracts import set_licence_status

    return preview(session, actor=actor, clock=clock, engine=engine, days=days,
                   **_licence_target(session, licence_id),
                   change=lambda s: set_licence_status(s, actor=actor, clock=clock, licence_id=licence_id,
                                                       status=status, reason=_REASON))


def preview_agreement_transition(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                                 agreement_id: int, to: str, days: int = DEFAULT_DAYS,
                                 **dates: date | None) -> WhatIf:
    """Moving an agreement (terminating, suspending) — every tool of its controller is looked at."""
    from registry.services.agreements import get_agreement, transition_agreement

    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    today = term_date(clock.now())
    if to == "terminated":
        # The machine asks for the dates the form would; the preview takes today's.
        dates = {"terminated_on": today, "deletion_due_on": today, **{k: v for k, v in dates.items() if v}}
    return preview(session, actor=actor, clock=clock, engine=engine, days=days, hospital_id=dpa.controller_id,
                   change=lambda s: transition_agreement(s, actor=actor, clock=clock, agreement_id=agreement_id,
                                                         to=to, note=_REASON, **dates))
