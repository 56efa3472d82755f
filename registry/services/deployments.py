"""Clinical deployments (AI Act Art. 26): the deployer's checklist, the go-live approval by the
hospital's clinical owner (never by whoever filled in the checklist), suspension and resumption.

A change takes effect on the very next decision: the decision path reads the deployment row
itself (one indexed lookup), and the next bundle is built from the same facts.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.clock import Clock
from registry.db.clinical import Deployment, DeploymentStatus
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.deployment import SHA256_HEX, missing_items
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.scope import can_see, scope_of
from registry.services._rows import create_row, update_row
from registry.services.errors import Conflict, NotFound, ValidationFailed

# The checklist's fields (what the form and the API may set).
CHECKLIST_FIELDS = ("versions", "ifu_document", "ifu_sha256", "overseers", "dpia_reference", "dpia_date",
                    "works_council_informed_on", "acceptance_cases", "acceptance_agreement_pct",
                    "acceptance_date", "acceptance_by", "monitoring_plan", "art27_applicable",
                    "art49_applicable")


def _visible(session: Session, actor: Actor, model: type, row: Any, what: str) -> None:
    if row is None or not can_see(session, scope_of(session, actor), model, row):
        raise NotFound(f"no {what}")


def get_deployment(session: Session, *, actor: Actor, deployment_id: int) -> Deployment:
    actor.require(Permission.DEPLOYMENTS_READ)
    dep = session.get(Deployment, deployment_id)
    _visible(session, actor, Deployment, dep, f"deployment {deployment_id}")
    return dep


def _clean(session: Session, tool_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Check the checklist's values; the errors name their fields."""
    errors: dict[str, str] = {}
    out = dict(changes)
    if "versions" in out:
        known = set(session.scalars(select(ToolVersion.version).where(ToolVersion.tool_id == tool_id)))
        versions = [v.strip() for v in out["versions"] or [] if v and v.strip()]
        unknown = [v for v in versions if v not in known]
        if unknown:
            errors["versions"] = f"unknown version(s) of this tool: {', '.join(unknown)}"
        out["versions"] = sorted(set(versions))
    if out.get("ifu_sha256"):
        out["ifu_sha256"] = out["ifu_sha256"].strip().lower()
        if not SHA256_HEX.match(out["ifu_sha256"]):
            errors["ifu_sha256"] = "64 hexadecimal characters (SHA-256)"
    if "overseers" in out:
        overseers = []
        for i, o in enumerate(out["overseers"] or []):
            name = (o.get("name") or "").strip()
            trained = o.get("trained_on")
            if isinstance(trained, str):
                try:
                    trained = date.fromisoformat(trained)
                except ValueError:
                    errors["overseers"] = f"overseer {i + 1}: training date is not a date (YYYY-MM-DD)"
                    continue
            if not name:
                errors["overseers"] = f"overseer {i + 1}: a name is required"
                continue
            overseers.append({"name": name[:200], "role": (o.get("role") or "").strip()[:120],
                              "trained_on": trained.isoformat() if trained else None})
        out["overseers"] = overseers
    pct = out.get("acceptance_agreement_pct")
    if pct is not None and not 0 <= pct <= 100:
        errors["acceptance_agreement_pct"] = "a percentage from 0 to 100"
    cases = out.get("acceptance_cases")
    if cases is not None and cases < 0:
        errors["acceptance_cases"] = "a number of cases, 0 or more"
    if errors:
        raise ValidationFailed("the checklist has errors", errors)
    return out


def create_deployment(session: Session, *, actor: Actor, clock: Clock, hospital_id: int, tool_id: int,
                      **checklist: Any) -> Deployment:
    """A new deployment in draft, with whatever of the checklist is known already."""
    actor.require(Permission.DEPLOYMENTS_WRITE)
    hospital = session.get(Organisation, hospital_id)
    if hospital is None or hospital.kind != "hospital" or not can_see(
            session, scope_of(session, actor), Organisation, hospital):
        raise ValidationFailed("invalid deployment", {"hospital_id": "not a hospital you work for"})
    if session.get(Tool, tool_id) is None:
        raise ValidationFailed("invalid deployment", {"tool_id": "no such tool"})
    unknown = set(checklist) - set(CHECKLIST_FIELDS)
    if unknown:
        raise ValueError(f"not checklist fields: {sorted(unknown)}")
    if session.scalar(select(Deployment.id).where(Deployment.hospital_id == hospital_id,
                                                  Deployment.tool_id == tool_id)) is not None:
        raise Conflict("this hospital already has a deployment of this tool; change that one",
                       {"tool_id": "already deployed at this hospital"})
    values = _clean(session, tool_id, checklist)
    dep = Deployment(hospital_id=hospital_id, tool_id=tool_id, prepared_by=[actor.ref],
                     status=DeploymentStatus.DRAFT, status_since=term_date(clock.now()), **values)
    return create_row(session, actor=actor, clock=clock, permission=Permission.DEPLOYMENTS_WRITE, row=dep,
                      message="deployment prepared")


def update_checklist(session: Session, *, actor: Actor, clock: Clock, deployment_id: int,
                     changes: dict[str, Any]) -> Deployment:
    """Change the checklist. An approved deployment goes back to draft: what was approved is no
    longer what is on file, so the clinical owner approves again (a suspension stays)."""
    actor.require(Permission.DEPLOYMENTS_WRITE)
    dep = get_deployment(session, actor=actor, deployment_id=deployment_id)
    unknown = set(changes) - set(CHECKLIST_FIELDS)
    if unknown:
        raise ValidationFailed("not checklist fields", {k: "cannot be changed here" for k in unknown})
    values = _clean(session, dep.tool_id, changes)
    values = {k: v for k, v in values.items() if getattr(dep, k) != v}
    if not values:
        return dep
    values["prepared_by"] = sorted(set(dep.prepared_by or []) | {actor.ref})
    message = "checklist changed"
    if dep.status == DeploymentStatus.APPROVED:
        values.update(status=DeploymentStatus.DRAFT, status_since=term_date(clock.now()),
                      status_reason="checklist changed after approval", approved_by=None, approved_at=None)
        message = "checklist changed after approval: go-live needs a new approval"
    return update_row(session, actor=actor, clock=clock, permission=Permission.DEPLOYMENTS_WRITE, row=dep,
                      changes=values, message=message)


def _check_approver(dep: Deployment, actor: Actor) -> None:
    missing = missing_items(dep)
    if missing:
        raise ValidationFailed("the checklist is incomplete", {"checklist": "missing: " + ", ".join(missing)})
    if actor.ref in (dep.prepared_by or []):
        # Four eyes: the clinical owner approves what someone else put on file.
        raise Conflict("whoever filled in the checklist cannot approve it",
                       {"approver": "you filled in (part of) this checklist"})


def approve_deployment(session: Session, *, actor: Actor, clock: Clock, deployment_id: int,
                       note: str = "") -> Deployment:
    """The go-live approval: a complete checklist, approved by someone who did not fill it in."""
    actor.require(Permission.DEPLOYMENTS_APPROVE)
    dep = get_deployment(session, actor=actor, deployment_id=deployment_id)
    if dep.status != DeploymentStatus.DRAFT:
        raise Conflict(f"the deployment is {dep.status}, not a draft", {"status": dep.status})
    _check_approver(dep, actor)
    return update_row(session, actor=actor, clock=clock, permission=Permission.DEPLOYMENTS_APPROVE, row=dep,
                      changes={"status": DeploymentStatus.APPROVED, "status_since": term_date(clock.now()),
                               "status_reason": note.strip()[:500] or None, "approved_by": actor.ref,
                               "approved_at": clock.now(), "prepared_by": []},
                      action="approve", message=note.strip()[:500] or "go-live approved")


def suspend_deployment(session: Session, *, actor: Actor, clock: Clock, deployment_id: int,
                       reason: str, permission: Permission = Permission.DEPLOYMENTS_APPROVE) -> Deployment:
    """AI Act Art. 26(5): stop clinical use now; effective on the next decision and bundle."""
    actor.require(permission)
    if not reason.strip():
        raise ValidationFailed("a reason is required", {"reason": "is required"})
    dep = get_deployment(session, actor=actor, deployment_id=deployment_id)
    if dep.status == DeploymentStatus.SUSPENDED:
        return dep
    dep = update_row(session, actor=actor, clock=clock, permission=permission, row=dep,
                     changes={"status": DeploymentStatus.SUSPENDED, "status_since": term_date(clock.now()),
                              "status_reason": reason.strip()[:500]},
                     action="suspend", message=reason.strip()[:500])
    from registry.services.webhooks import enqueue

    enqueue(session, clock=clock, event="deployment.suspended",
            data={"hospital_id": dep.hospital_id, "tool_id": dep.tool_id, "deployment_id": dep.id,
                  "reason": dep.status_reason}, organisation_id=dep.hospital_id)
    return dep


def resume_deployment(session: Session, *, actor: Actor, clock: Clock, deployment_id: int,
                      reason: str) -> Deployment:
    """Resume after a suspension, with a reason, by a clinical owner (the same four-eyes rule)."""
    actor.require(Permission.DEPLOYMENTS_APPROVE)
    if not reason.strip():
        raise ValidationFailed("a reason is required", {"reason": "is required"})
    dep = get_deployment(session, actor=actor, deployment_id=deployment_id)
    if dep.status != DeploymentStatus.SUSPENDED:
        raise Conflict(f"the deployment is {dep.status}, not suspended", {"status": dep.status})
    _check_approver(dep, actor)
    return update_row(session, actor=actor, clock=clock, permission=Permission.DEPLOYMENTS_APPROVE, row=dep,
                      changes={"status": DeploymentStatus.APPROVED, "status_since": term_date(clock.now()),
                               "status_reason": reason.strip()[:500], "approved_by": actor.ref,
                               "approved_at": clock.now(), "prepared_by": []},
                      action="resume", message=reason.strip()[:500])


def deployments_of_tool(session: Session, tool_id: int, versions: list[str] | None = None) -> list[Deployment]:
    """The deployments of a tool (covering any of ``versions``, if given)."""
    rows = session.scalars(select(Deployment).where(Deployment.tool_id == tool_id).order_by(Deployment.id))
    return [d for d in rows if versions is None or set(d.versions or []) & set(versions)]
