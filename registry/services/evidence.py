"""The evidence pack for one hospital × tool: what an inspector (IGJ, Autoriteit Persoonsgegevens)
asks a hospital to show about its use of an AI tool, in one place, pinned to the audit trail.

The pack is plain data (rendered to JSON or to a PDF by the edge): the deployer's checklist and
its approval (AI Act Art. 26), the licence and the data-processing agreement in force (GDPR Art.
28) with their signature data and the SHA-256 of the uploaded signed copies, incidents with their
legal deadlines, monitoring figures (the hospital's rate beside the pooled rate of the others, and the tool's flagged subgroups), the decisions' counts by outcome and reason
over a period, and a signed checkpoint of the audit trail with the way to verify it.

Before the pack is built, pending audit entries are sealed and the head of the chain is signed
(by the registry itself, as the sequencer does), so every change the pack describes lies inside
the checkpoint it carries. The reading is logged afterwards as an access (NEN 7513), with the
SHA-256 of exactly what was handed out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, timedelta
from typing import Any, Callable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit import access
from registry.audit.chain import checkpoint_now, utc_stamp
from registry.audit.entries import READ
from registry.audit.verify import public_keys
from registry.clock import Clock
from registry.db.agreements import AgreementDocument
from registry.db.clinical import Deployment, Incident
from registry.db.decisions import Decision
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.db.users import User
from registry.domain.deployment import missing_items
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.policy.engine import PolicyEngine
from registry.scope import restrict, scope_of
from registry.services.errors import NotFound, ValidationFailed
from registry.services.incidents import duties_of
from registry.services.matrix import evaluate_cell

# Who may take the pack: it is audit evidence (auditors, privacy officers, admins), scoped like
# everything else — a hospital's people only for their own hospital.
PERMISSION = Permission.AUDIT_READ
DEFAULT_PERIOD_DAYS = 90
MAX_PERIOD_DAYS = 3 * 366
PURPOSE = "clinical-care"  # the purpose the deployment and the agreement are shown for
FORMAT_VERSION = 1


def _who(session: Session, ref: str | None) -> str | None:
    """An actor reference in words ("user:3" → the person's name), as the audit trail names it."""
    if not ref:
        return None
    kind, _, ident = ref.partition(":")
    if kind == "user" and ident.isascii() and ident.isdigit() and len(ident) < 19:
        user = session.get(User, int(ident))
        if user is not None:
            return f"{user.name} ({user.email})" if user.name else user.email
    return ref


def _find(session: Session, actor: Actor, hospital_ura: str, tool_slug: str) -> tuple[Organisation, Tool]:
    scope = scope_of(session, actor)
    hospital = session.scalar(restrict(select(Organisation).where(
        Organisation.kind == "hospital", Organisation.ura == hospital_ura[:20]), scope, Organisation))
    tool = session.scalar(restrict(select(Tool).where(Tool.slug == tool_slug[:64]), scope, Tool))
    if hospital is None or tool is None:
        raise NotFound("no such hospital or tool")  # another hospital's does not exist for this caller
    return hospital, tool


def _period(today: date, since: date | None, until: date | None) -> tuple[date, date]:
    until = until or today
    since = since or until - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if since > until or (until - since).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed("invalid period", {"from": f"on or before 'to', at most {MAX_PERIOD_DAYS} days"})
    return since, until


def _deployment(session: Session, hospital: Organisation, tool: Tool) -> dict[str, Any] | None:
    dep = session.scalar(select(Deployment).where(Deployment.hospital_id == hospital.id,
                                                  Deployment.tool_id == tool.id))
    if dep is None:
        return None
    return {
        "status": dep.status, "status_since": dep.status_since, "status_reason": dep.status_reason,
        "versions": list(dep.versions or []), "missing": missing_items(dep),
        "checklist": {
            "ifu_document": dep.ifu_document, "ifu_sha256": dep.ifu_sha256,
            "overseers": [dict(o) for o in dep.overseers or []],
            "dpia_reference": dep.dpia_reference, "dpia_date": dep.dpia_date,
            "works_council_informed_on": dep.works_council_informed_on,
            "acceptance_cases": dep.acceptance_cases, "acceptance_agreement_pct": dep.acceptance_agreement_pct,
            "acceptance_date": dep.acceptance_date, "acceptance_by": dep.acceptance_by,
            "monitoring_plan": dep.monitoring_plan, "art27_applicable": dep.art27_applicable,
            "art49_applicable": dep.art49_applicable},
        "approval": {"approved_by": _who(session, dep.approved_by),
                     "approved_at": utc_stamp(dep.approved_at) if dep.approved_at else None},
    }


def _licence(snap) -> dict[str, Any] | None:  # noqa: ANN001
    lic, con = snap.licence, snap.contract
    if lic is None:
        return None
    return {"reference": lic.reference, "status": lic.status, "starts_on": lic.starts_on, "ends_on": lic.ends_on,
            "quota_limit": lic.quota_limit, "quota_period": lic.quota_period,
            "contract": {"reference": con.reference, "title": con.title, "status": con.status,
                         "starts_on": con.starts_on, "ends_on": con.ends_on} if con is not None else None}


def _agreement(session: Session, snap) -> dict[str, Any] | None:  # noqa: ANN001
    dpa = snap.agreement
    if dpa is None:
        return None
    documents = session.scalars(select(AgreementDocument).where(AgreementDocument.agreement_id == dpa.id)
                                .order_by(AgreementDocument.version))
    processor = session.get(Organisation, dpa.processor_id)
    return {"reference": dpa.reference, "status": dpa.status, "processor": processor.name if processor else None,
            "purposes": list(dpa.purposes or []), "signed_on": dpa.signed_on, "effective_on": dpa.effective_on,
            "ends_on": dpa.ends_on, "terminated_on": dpa.terminated_on,
            "signatories": [dict(s) for s in dpa.signatories or []],
            "approved_terms_sha256": dpa.approved_terms_hash,
            "signed_documents": [{"version": d.version, "filename": d.filename, "sha256": d.sha256, "size": d.size,
                                  "uploaded_at": utc_stamp(d.uploaded_at),
                                  "uploaded_by": _who(session, d.uploaded_by)} for d in documents]}


def _incidents(session: Session, hospital: Organisation, tool: Tool, today: date) -> list[dict[str, Any]]:
    rows = session.scalars(select(Incident).where(
        Incident.tool_id == tool.id, or_(Incident.hospital_id == hospital.id, Incident.hospital_id.is_(None)))
        .order_by(Incident.aware_on.desc(), Incident.id.desc()))
    return [{"reference": i.reference, "kind": i.kind, "severity": i.severity, "status": i.status,
             "occurred_on": i.occurred_on, "aware_on": i.aware_on, "action": i.action,
             "all_hospitals": i.hospital_id is None,
             "duties": [{"duty": d.duty, "legal_basis": d.legal_basis, "due_on": d.due_on, "told_on": d.told_on,
                         "told_whom": d.told_whom, "done": d.closed_at is not None,
                         "overdue": d.closed_at is None and d.due_on < today} for d in duties_of(session, i)]}
            for i in rows]


def _decisions(session: Session, hospital: Organisation, tool: Tool, since: date, until: date) -> dict[str, Any]:
    """The gateways' real decisions (no dry runs, no staff evaluations) in the period."""
    rows = session.execute(select(Decision.outcome, Decision.reasons).where(
        Decision.hospital_id == hospital.id, Decision.tool_slug == tool.slug, Decision.kind == "decide",
        Decision.dry_run.is_(False), Decision.evaluated_on >= since, Decision.evaluated_on <= until))
    outcomes, reasons = Counter(), Counter()
    for outcome, stated in rows:
        outcomes[outcome] += 1
        reasons.update(r.get("code") for r in stated or [])
    return {"since": since, "until": until, "total": sum(outcomes.values()),
            "permit": outcomes.get("permit", 0), "deny": outcomes.get("deny", 0),
            "deny_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))}


def _audit(session: Session, *, clock: Clock, signer: Any, issuer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    checkpoint = checkpoint_now(session, clock=clock, signer=signer)
    key = public_keys(session, signer)[checkpoint.kid]
    view = {"seq": checkpoint.seq, "head_hash": checkpoint.head_hash, "created_at": utc_stamp(checkpoint.created_at),
            "kid": checkpoint.kid, "jws": checkpoint.signature}
    audit = {
        "key": dict(key.as_dict(private=False), kid=checkpoint.kid),
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "checkpoints_uri": f"{issuer}/api/v1/audit/checkpoints?after_seq={checkpoint.seq - 1}",
        "verify": [
            # Anyone: the checkpoint is published, and its signature checks with the public key.
            f"curl -s '{issuer}/api/v1/audit/checkpoints?after_seq={checkpoint.seq - 1}'",
            # The registry's operator, in the inspector's presence: recompute the whole chain and
            # check it against the checkpoint in this file.
            "registry audit verify --checkpoints evidence.json",
            # Or over the API, with an audit:read token.
            f"curl -s -X POST -H 'Authorization: Bearer …' -H 'Content-Type: application/json' "
            f"-d '{{\"checkpoints\": [\"<jws>\"]}}' {issuer}/api/v1/audit/verify",
        ],
    }
    return view, audit


def evidence_pack(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine, signer: Any,
                  issuer: str, hospital_ura: str, tool_slug: str, since: date | None = None,
                  until: date | None = None) -> dict[str, Any]:
    """The pack's plain data. Seals pending audit entries and signs a checkpoint at the head."""
    actor.require(PERMISSION)
    hospital, tool = _find(session, actor, hospital_ura, tool_slug)
    today = term_date(clock.now())
    since, until = _period(today, since, until)
    cell = evaluate_cell(session, engine=engine, hospital=hospital, tool=tool, purpose=PURPOSE, on=today)
    snap = cell.snapshot
    checkpoint, audit = _audit(session, clock=clock, signer=signer, issuer=issuer)
    return {
        "format": "aifi-evidence-pack", "format_version": FORMAT_VERSION,
        "generated_at": utc_stamp(clock.now()), "generated_for": _who(session, actor.ref), "on": today,
        "hospital": {"name": hospital.name, "ura": hospital.ura, "status": hospital.status},
        "tool": {"name": tool.name, "slug": tool.slug, "vendor": snap.chain[-1].name if snap.chain else None,
                 "version": snap.version.version if snap.version is not None else None},
        "routing_today": {"purpose": PURPOSE, "decision": cell.decision,
                          "reasons": [{"code": r["code"], "detail": r["detail"]} for r in cell.reasons]},
        "deployment": _deployment(session, hospital, tool),
        "licence": _licence(snap),
        "agreement": _agreement(session, snap),
        "incidents": _incidents(session, hospital, tool, today),
        "monitoring": _monitoring(session, actor, hospital, tool),
        "decisions": _decisions(session, hospital, tool, since, until),
        "checkpoints": [checkpoint],
        "audit": audit,
    }


def _monitoring(session: Session, actor: Actor, hospital: Organisation, tool: Tool) -> dict[str, Any]:
    """The pooled monitoring figures of this hospital for this tool (each version: its discrepancy
    rate with the Wilson interval beside the other hospitals' pooled rate, and whether it is
    flagged) and the tool's flagged subgroups, as ``registry.services.monitoring`` computes them
    for the person taking the pack; no figure where no feedback was recorded."""
    from registry.services.monitoring import monitoring_figures

    if not actor.can(Permission.MONITORING_READ):
        return {"available": False, "feedback_recorded": 0, "hospital": [], "flagged_subgroups": []}
    figures = monitoring_figures(session, actor=actor)
    rows = [r for r in figures.hospitals if r["tool"]["slug"] == tool.slug and r["hospital"]["ura"] == hospital.ura]
    flagged = [r for r in figures.subgroups if r["tool"]["slug"] == tool.slug and r["flagged"]]
    recorded = sum((r["assessed"] or 0) + (r["not_assessed"] or 0) for r in rows)
    return {"available": recorded > 0, "feedback_recorded": recorded, "hospital": rows,
            "flagged_subgroups": flagged}


def log_evidence_read(session: Session, *, actor: Actor, clock: Clock, pack: dict[str, Any], fmt: str,
                      body: bytes) -> None:
    """NEN 7513: the pack was handed out; the entry names it and the SHA-256 of the bytes given."""
    hospital = session.scalar(select(Organisation).where(Organisation.ura == pack["hospital"]["ura"]))
    access.log_access(session, actor=actor, at=clock.now(), event_type=access.READ, action_code=READ,
                      outcome="success", object_type="evidence_pack",
                      object_id=f"{pack['hospital']['ura']}/{pack['tool']['slug']}",
                      on_behalf_of_id=hospital.id if hospital is not None else None,
                      objects=[{"type": "evidence_pack", "id": f"{pack['hospital']['ura']}/{pack['tool']['slug']}"},
                               {"type": "tool", "id": pack["tool"]["slug"]},
                               {"type": "organisations", "id": str(hospital.id) if hospital else ""}],
                      detail={"format": fmt, "sha256": hashlib.sha256(body).hexdigest(),
                              "checkpoint_seq": pack["checkpoints"][0]["seq"],
                              "period": [pack["decisions"]["since"].isoformat(),
                                         pack["decisions"]["until"].isoformat()]})


def take_evidence_pack(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine, signer: Any,
                       issuer: str, hospital_ura: str, tool_slug: str, fmt: str,
                       render: Callable[[dict[str, Any]], bytes], since: date | None = None,
                       until: date | None = None) -> bytes:
    """Build the pack, render it (``render``: JSON or PDF), and log the reading; flushes."""
    pack = evidence_pack(session, actor=actor, clock=clock, engine=engine, signer=signer, issuer=issuer,
                         hospital_ura=hospital_ura, tool_slug=tool_slug, since=since, until=until)
    body = render(pack)
    log_evidence_read(session, actor=actor, clock=clock, pack=pack, fmt=fmt, body=body)
    session.flush()
    return body
