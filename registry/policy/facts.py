"""Facts for one decision, computed from one database snapshot (pure: no queries here).

The services load the rows (:class:`Snapshot`); this module turns them into the Cedar context
and into the human sentences that explain each failing condition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from registry.domain.deployment import routing_problem
from registry.domain.intended_use import Mismatch, Study, check_intended_use
from registry.domain.quota import OnQuotaExhausted, QuotaState, Window, quota_window
from registry.domain.terms import in_force


@dataclass
class Snapshot:
    """Rows loaded for one decision (any may be missing)."""

    day: date
    hospital: Any
    gateway: Any | None  # None when staff evaluate for a hospital
    tool: Any | None
    version: Any | None
    purpose: Any | None
    purpose_code: str
    tool_slug: str
    licence: Any | None = None
    contract: Any | None = None
    quota_used: int = 0
    agreement: Any | None = None
    agreement_subprocessors: list[Any] = field(default_factory=list)
    chain: list[Any] = field(default_factory=list)  # processors in order: operator, vendor
    objection: Any | None = None
    # The hospital's deployment of the tool, loaded only when the purpose requires one.
    deployment: Any | None = None


def deployment_facts(snap: Snapshot, tool_known: bool) -> dict[str, bool]:
    """AI Act Art. 26: does the purpose need an approved deployment, and is there one for this
    version? (``routing_problem`` says why not, for the reason's detail.)"""
    required = bool(snap.purpose is not None and getattr(snap.purpose, "requires_deployment", False))
    approved = bool(tool_known and routing_problem(snap.deployment, snap.version.version) is None)
    return {"required": required, "approved": approved}


@dataclass
class Facts:
    context: dict[str, Any]
    mismatches: list[Mismatch]
    window: Window | None
    quota: QuotaState | None
    unapproved: list[str]  # names of chain members not approved as sub-processors


def licence_window(licence: Any, day: date) -> Window:
    return quota_window(licence.quota_period, licence.starts_on, licence.ends_on, day)


def chain_unapproved(snap: Snapshot) -> list[str]:
    """Processors after the first in the chain must be approved sub-processors on ``day``."""
    if snap.agreement is None:
        return []
    approved = {
        sp.organisation_id
        for sp in snap.agreement_subprocessors
        if sp.organisation_id is not None and sp.approved_on is not None
        and sp.approved_on <= snap.day and (sp.withdrawn_on is None or snap.day <= sp.withdrawn_on)
    }
    return [org.name for org in snap.chain[1:] if org.id not in approved]


def compute_facts(snap: Snapshot, study: Study) -> Facts:
    day = snap.day
    tool_known = snap.tool is not None and snap.version is not None
    mismatches = check_intended_use(snap.version.intended_use, study) if tool_known else []
    cert_valid = bool(tool_known and snap.version.certificate_expires_on
                      and day <= snap.version.certificate_expires_on)
    suspended = bool(tool_known and (snap.tool.status != "active" or snap.version.status != "active"))

    lic, con = snap.licence, snap.contract
    window = quota = None
    if lic is not None:
        window = licence_window(lic, day)
        quota = QuotaState(lic.quota_limit, snap.quota_used, OnQuotaExhausted(lic.on_quota_exhausted))
    dpa = snap.agreement
    unapproved = chain_unapproved(snap)
    context = {
        "gateway": {"active": snap.gateway is None or snap.gateway.status == "active"},
        "hospital": {"active": snap.hospital.status == "active"},
        "tool": {"known": tool_known, "suspended": suspended, "certificate_valid": cert_valid},
        "purpose": {"known": snap.purpose is not None and snap.purpose.active},
        "study": {"within_intended_use": not mismatches},
        "licence": {
            "present": lic is not None,
            "in_force": bool(lic and lic.status == "active" and in_force(lic.starts_on, lic.ends_on, day)),
            "contract_in_force": bool(con and con.status == "active"
                                      and in_force(con.starts_on, con.ends_on, day)),
            "quota_limited": bool(quota and quota.limit is not None),
            "quota_remaining": (quota.remaining or 0) if quota and quota.limit is not None else 0,
            "overage_allowed": bool(quota and quota.rule is OnQuotaExhausted.OVERAGE),
        },
        "agreement": {
            "present": dpa is not None,
            "signed": bool(dpa and dpa.status == "signed"),
            "in_force": bool(dpa and dpa.status == "signed"
                             and in_force(dpa.effective_on, dpa.ends_on, day)),
            "covers_purpose": bool(dpa and snap.purpose_code in (dpa.purposes or [])),
            "chain_approved": dpa is not None and not unapproved,
        },
        "deployment": deployment_facts(snap, tool_known),
        "patient": {"objected": snap.objection is not None},
    }
    return Facts(context, mismatches, window, quota, unapproved)


def terms_only(context: dict[str, Any]) -> dict[str, Any]:
    """The decision's facts with the per-study conditions taken as met, so that the policies judge
    the terms alone: the offline bundle (the gateway checks intended use itself; objections need
    the registry) and the routing matrix (no study at all) both ask this question."""
    ctx = {key: dict(value) for key, value in context.items()}
    ctx["study"]["within_intended_use"] = True
    ctx["patient"]["objected"] = False
    return ctx


def _d(value: date | None) -> str:
    return value.isoformat() if value else "—"


def explain(code: str, snap: Snapshot, facts: Facts) -> dict[str, Any]:
    """The reason for one failing condition: code, a human sentence and what to look at.

    A check that errored on a missing fact is listed as failed (fail-closed), and then the row its
    sentence would name may be absent: the reason keeps its code with a plain sentence instead of
    turning a deny into a 500."""
    try:
        return _explain(code, snap, facts)
    except (AttributeError, TypeError):
        return {"code": code, "ref": None,
                "detail": f"{code.replace('_', ' ').lower()}: the facts to explain this were incomplete; "
                          "denied (fail-closed)"}


def _explain(code: str, snap: Snapshot, facts: Facts) -> dict[str, Any]:
    lic, con, dpa, tv = snap.licence, snap.contract, snap.agreement, snap.version
    day = _d(snap.day)
    detail, ref = "", None
    if code == "GATEWAY_INACTIVE":
        detail, ref = f"gateway {snap.gateway.name} is {snap.gateway.status}", f"gateway:{snap.gateway.client_id}"
    elif code == "HOSPITAL_INACTIVE":
        detail, ref = f"{snap.hospital.name} is {snap.hospital.status}", f"organisation:{snap.hospital.id}"
    elif code == "TOOL_UNKNOWN":
        detail = f"no tool {snap.tool_slug!r}" + ("" if snap.tool is None else " in the requested version")
    elif code == "TOOL_SUSPENDED":
        what = snap.tool if snap.tool.status != "active" else tv
        detail = (f"{snap.tool.name} {tv.version} is suspended since {_d(what.status_since)}: "
                  f"{what.status_reason or 'no reason given'}")
        ref = f"tool_version:{tv.id}"
    elif code == "TOOL_CERTIFICATE_EXPIRED":
        detail = (f"the CE/MDR certificate of {snap.tool.name} {tv.version} "
                  + (f"expired on {_d(tv.certificate_expires_on)}" if tv.certificate_expires_on
                     else "is not recorded"))
        ref = f"tool_version:{tv.id}"
    elif code == "PURPOSE_UNKNOWN":
        detail = f"purpose {snap.purpose_code!r} is not a known purpose code"
    elif code == "OUTSIDE_INTENDED_USE":
        parts = "; ".join(f"{m.attribute}: {m.detail}" for m in facts.mismatches)
        detail, ref = f"outside the intended use of {snap.tool.name} {tv.version} — {parts}", f"tool_version:{tv.id}"
    elif code == "NO_LICENCE":
        detail = f"{snap.hospital.name} has no call-off licence for {snap.tool.name}"
    elif code == "LICENCE_NOT_IN_FORCE":
        state = lic.status if lic.status != "active" else f"in force {_d(lic.starts_on)} to {_d(lic.ends_on)}"
        detail, ref = f"licence {lic.reference} is not in force on {day} ({state})", f"licence:{lic.id}"
    elif code == "CONTRACT_NOT_IN_FORCE":
        state = con.status if con.status != "active" else f"in force {_d(con.starts_on)} to {_d(con.ends_on)}"
        detail, ref = f"framework contract {con.reference} is not in force on {day} ({state})", f"contract:{con.id}"
    elif code == "QUOTA_EXHAUSTED":
        q, w = facts.quota, facts.window
        detail = (f"licence {lic.reference} has used {q.used} of {q.limit} studies in the period "
                  f"{_d(w.starts_on)} to {_d(w.ends_on)}")
        ref = f"licence:{lic.id}"
    elif code == "NO_AGREEMENT":
        first = snap.chain[0].name if snap.chain else "the processor"
        detail = f"no data-processing agreement between {snap.hospital.name} and {first}"
    elif code == "AGREEMENT_NOT_SIGNED":
        detail, ref = f"agreement {dpa.reference} is {dpa.status.replace('_', ' ')}, not signed", f"agreement:{dpa.id}"
    elif code == "AGREEMENT_NOT_IN_FORCE":
        detail = (f"agreement {dpa.reference} is not in force on {day} "
                  f"(effective {_d(dpa.effective_on)} to {_d(dpa.ends_on)})")
        ref = f"agreement:{dpa.id}"
    elif code == "PURPOSE_NOT_COVERED":
        detail = (f"agreement {dpa.reference} does not cover purpose {snap.purpose_code} "
                  f"(covers {', '.join(dpa.purposes) or 'none'})")
        ref = f"agreement:{dpa.id}"
    elif code == "SUBPROCESSOR_NOT_APPROVED":
        detail = (f"agreement {dpa.reference} has no approval on {day} for sub-processor(s) "
                  f"{', '.join(facts.unapproved)}")
        ref = f"agreement:{dpa.id}"
    elif code == "DEPLOYMENT_NOT_APPROVED":
        detail, ref = _deployment_detail(snap)
    elif code == "PATIENT_OBJECTION":
        detail = f"the patient has objected to processing for {snap.purpose_code} at {snap.hospital.name}"
        ref = f"objection:{snap.objection.objection_ref}"
    else:  # POLICY_ERROR
        detail = "the policies could not be evaluated on these facts; denied (fail-closed)"
    return {"code": code, "detail": detail, "ref": ref}


def _deployment_detail(snap: Snapshot) -> tuple[str, str | None]:
    """Which of: no deployment, version not covered, incomplete, not approved, suspended."""
    from registry.domain.deployment import missing_items

    dep, tv = snap.deployment, snap.version
    what = f"{snap.tool.name} {tv.version}"
    problem = routing_problem(dep, tv.version)
    if problem == "absent":
        return f"{snap.hospital.name} has no clinical deployment of {snap.tool.name}", None
    ref = f"deployment:{dep.id}"
    if problem == "suspended":
        return (f"the deployment of {snap.tool.name} at {snap.hospital.name} is suspended since "
                f"{_d(dep.status_since)}: {dep.status_reason or 'no reason given'}"), ref
    if problem == "version_not_covered":
        return (f"the deployment at {snap.hospital.name} does not cover {what} "
                f"(covers {', '.join(dep.versions) or 'no version'})"), ref
    if problem == "incomplete":
        return (f"the deployment of {what} at {snap.hospital.name} is incomplete "
                f"(missing: {', '.join(missing_items(dep))})"), ref
    return (f"the deployment of {what} at {snap.hospital.name} is not approved for clinical use "
            f"({dep.status})"), ref
