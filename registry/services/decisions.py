"""The routing decision: "may this gateway send this study to this tool, for this purpose?"

One snapshot of the facts, one Cedar evaluation (remembered per facts by the engine; more only to
explain a deny), and one short write: the quota reservation, the Decision and its audit entry,
in the same transaction.

Per study only what must be read and written touches the database: one statement reads the
terms revision and any permit stored under the study's idempotency key, one an objection
(requests naming a pseudonym only); then the reservation (which returns the quota count, so a
permit need not read it first), and the decision row with its audit entry (SQLAlchemy Core
inserts; one statement on PostgreSQL). The terms come from the in-memory :class:`TermsCache`,
valid for the revision just read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import SimpleNamespace
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from registry.actor import Actor, PermissionDenied
from registry.schemas import DecisionIn, EvaluateIn
from registry.audit.entries import EXECUTE, append_entry, entry_values
from registry.clock import Clock
from registry.db.agreements import DataProcessingAgreement, SubProcessor
from registry.db.clinical import Deployment
from registry.db.consent import PatientObjection, Purpose
from registry.db.contracts import FrameworkContract, Licence
from registry.db.audit import AuditEntry
from registry.db.base import begin_writing, reads_first
from registry.db.decisions import Decision, Reservation
from registry.db.direct import Direct, with_defaults
from registry.db.organisations import Gateway, Organisation
from registry.db.terms import TermsRevision
from registry.ids import new_uuid
from registry.db.tools import Tool, ToolVersion
from registry.domain.intended_use import Study
from registry.domain.quota import QuotaState
from registry.domain.terms import in_force, term_date
from registry.permissions import Permission
from registry.policy.engine import PolicyEngine
from registry.policy.facts import Snapshot, compute_facts, explain, licence_window
from registry.services import quota as quota_service
from registry.services.errors import Conflict, NotFound, ValidationFailed
from registry.services.terms_cache import TermsCache, TermsView


class DecisionRecord(SimpleNamespace):
    """A decision just made: the ``decisions`` columns as plain attributes.

    Read like a :class:`Decision` (a replay answers with the stored ORM row, and callers treat
    both alike) but built without SQLModel's validation and attribute instrumentation, which cost
    more than the insert itself on every study in the country. Never added to a session: it is
    stored with a Core insert and never updated here."""


@dataclass
class DecisionOutcome:
    decision: Decision | DecisionRecord
    quota: dict[str, Any] | None
    replayed: bool = False


def idempotency_key(hospital_id: int, tool: str, purpose: str, study_key: str) -> str:
    raw = "\x1f".join((str(hospital_id), tool, purpose, study_key))
    return hashlib.sha256(raw.encode()).hexdigest()


# -- loading the snapshot -------------------------------------------------------------------------

def _pick_licence(rows: list[tuple[Licence, FrameworkContract]], day: date):
    """Prefer the call-off in force on ``day``; else the one whose term is nearest (for the reason)."""
    if not rows:
        return None, None

    def rank(row):
        lic, con = row
        return (lic.status == "active" and in_force(lic.starts_on, lic.ends_on, day),
                con.status == "active" and in_force(con.starts_on, con.ends_on, day),
                lic.starts_on <= day, lic.ends_on)
    return max(rows, key=rank)


def _pick_agreement(candidates: list[DataProcessingAgreement], purpose: str, day: date):
    if not candidates:
        return None

    def rank(dpa):
        signed = dpa.status == "signed"
        return (signed and in_force(dpa.effective_on, dpa.ends_on, day), signed,
                purpose in (dpa.purposes or []), dpa.effective_on or date.min)
    return max(candidates, key=rank)


# The decision path's statements, built once with bound parameters: building a statement and
# its cache key costs more than running it on an indexed lookup, on every study in the country.
_VENDOR, _OPERATOR = aliased(Organisation), aliased(Organisation)
# One query for the tool, its version and the processing chain: the platform operator hosting
# the model (first processor, if any), then the tool's vendor.
_TOOL = (select(Tool, ToolVersion, _VENDOR, _OPERATOR)
         .join(ToolVersion, ToolVersion.tool_id == Tool.id)
         .join(_VENDOR, _VENDOR.id == Tool.vendor_id)
         .outerjoin(_OPERATOR, _OPERATOR.id == Tool.operator_id)
         .where(Tool.slug == bindparam("slug")))
_TOOL_VERSION = _TOOL.where(ToolVersion.version == bindparam("version"))
_TOOL_DEFAULT = _TOOL.where(ToolVersion.is_default)
_LICENCES = (select(Licence, FrameworkContract)
             .join(FrameworkContract, FrameworkContract.id == Licence.contract_id)
             .where(Licence.hospital_id == bindparam("hospital"), Licence.tool_id == bindparam("tool")))
# The agreements with the first processor and their sub-processors, in one query.
_AGREEMENTS = (select(DataProcessingAgreement, SubProcessor)
               .outerjoin(SubProcessor, SubProcessor.agreement_id == DataProcessingAgreement.id)
               .where(DataProcessingAgreement.controller_id == bindparam("hospital"),
                      DataProcessingAgreement.processor_id == bindparam("processor")))
_OBJECTION = (select(PatientObjection)
              .where(PatientObjection.hospital_id == bindparam("hospital"),
                     PatientObjection.pseudonym == bindparam("pseudonym"),
                     PatientObjection.purpose == bindparam("purpose"),
                     PatientObjection.recorded_on <= bindparam("day"),
                     or_(PatientObjection.withdrawn_on.is_(None),
                         PatientObjection.withdrawn_on >= bindparam("day")))
              .limit(1))
# AI Act Art. 26: the hospital's deployment of the tool (unique per hospital × tool).
_DEPLOYMENT = select(Deployment).where(Deployment.hospital_id == bindparam("hospital"),
                                       Deployment.tool_id == bindparam("tool"))
_PERMIT_BY_KEY = select(Decision).where(Decision.idempotency_key == bindparam("key"))
_GATEWAY_AND_HOSPITAL = (select(Gateway, Organisation)
                         .join(Organisation, Organisation.id == Gateway.hospital_id)
                         .where(Gateway.id == bindparam("gateway")))
# The first statement of every decision, one round trip: the terms revision (is the cache still
# good?) and the permit already stored under this study's idempotency key (is this a retry?).
# The statements every study runs go straight to the cursor (registry/db/direct.py).
_REVISION_AND_PERMIT = Direct(select(
    select(TermsRevision.revision).where(TermsRevision.id == 1).scalar_subquery(),
    select(Decision.id).where(Decision.idempotency_key == bindparam("key")).scalar_subquery()))


def _inserts(decision_keys: tuple[str, ...], entry_keys: tuple[str, ...],
             _cache: dict = {}):  # noqa: B006 - a deliberate per-process cache
    """SQLite: (the decision, the permit once, the audit entry) as three Direct statements
    (PostgreSQL runs them as one, :func:`_decision_with_entry`).

    The permit once is INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id: a lost race
    on a retried study is no row back, not an error, so no savepoint is needed around the
    reservation. (The row count is not used: psycopg reports -1 for it.)"""
    key = (decision_keys, entry_keys)
    if key not in _cache:
        decisions_table, audit_table = Decision.__table__, AuditEntry.__table__
        decision = sqlite_insert(decisions_table).values(with_defaults(decisions_table, decision_keys))
        once = decision.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(decisions_table.c.id)
        entry = insert(audit_table).values(with_defaults(audit_table, entry_keys))
        _cache[key] = (Direct(decision), Direct(once), Direct(entry))
    return _cache[key]


def terms_view(session: Session, terms: TermsCache | None, revision: int | None = None) -> TermsView:
    """The terms for this transaction; without a cache (services called directly), a private one."""
    if revision is None:
        revision = _REVISION_AND_PERMIT.first(session.connection(), {"key": None})[0]
    return TermsView(session, (terms or TermsCache()).entries(revision))


def _gateway_and_hospital(view: TermsView, gateway_id: int):
    return view.get(("gateway", gateway_id),
                    lambda s: tuple(s.execute(_GATEWAY_AND_HOSPITAL, {"gateway": gateway_id}).one()))


def _tool_row(view: TermsView, slug: str, version: str | None):
    if version:
        return view.get(("tool", slug, version), lambda s: s.execute(
            _TOOL_VERSION, {"slug": slug, "version": version}).first())
    return view.get(("tool", slug, None), lambda s: s.execute(_TOOL_DEFAULT, {"slug": slug}).first())


def _agreements(view: TermsView, hospital_id: int, processor_id: int):
    """(candidate agreements, their sub-processors by agreement id) between hospital and processor."""
    def load(s: Session):
        subprocessors: dict[int, list[SubProcessor]] = {}
        candidates: dict[int, DataProcessingAgreement] = {}
        for dpa, sp in s.execute(_AGREEMENTS, {"hospital": hospital_id, "processor": processor_id}):
            candidates[dpa.id] = dpa
            if sp is not None:
                subprocessors.setdefault(dpa.id, []).append(sp)
        return list(candidates.values()), subprocessors
    return view.get(("agreements", hospital_id, processor_id), load)


def load_snapshot(session: Session, *, hospital: Organisation, gateway: Gateway | None,
                  request: DecisionIn, day: date, view: TermsView | None = None,
                  read_quota: bool = True) -> Snapshot:
    """The facts for one decision: terms from ``view`` (the in-memory terms of this transaction's
    revision), the quota counter and any objection from the database. Without ``read_quota`` the
    counter is left at 0 ("some left"): the caller learns it from the reservation."""
    view = view or TermsView(session, {})  # no cache: loaded for this snapshot only
    row = _tool_row(view, request.tool, request.tool_version)
    tool, version = (row[0], row[1]) if row else (None, None)
    snap = Snapshot(day=day, hospital=hospital, gateway=gateway, tool=tool, version=version,
                    purpose=view.get(("purpose", request.purpose),
                                     lambda s: s.get(Purpose, request.purpose)),
                    purpose_code=request.purpose, tool_slug=request.tool)
    if tool is None:
        if request.tool_version:
            # Only to say which is unknown, the tool or the version asked for (a deny either way).
            known = _tool_row(view, request.tool, None)
            snap.tool = known[0] if known else None
        return snap
    licences = view.get(("licences", hospital.id, tool.id), lambda s: list(s.execute(
        _LICENCES, {"hospital": hospital.id, "tool": tool.id})))
    snap.licence, snap.contract = _pick_licence(licences, day)
    # The count matters only where there is a limit: without one it is in neither the facts nor
    # the answer, so the read is skipped.
    if read_quota and snap.licence is not None and snap.licence.quota_limit is not None:
        snap.quota_used = quota_service.used_in_window(
            session, snap.licence.id, licence_window(snap.licence, day).starts_on)
    snap.chain = [org for org in (row[3], row[2]) if org is not None]
    candidates, subprocessors = _agreements(view, hospital.id, snap.chain[0].id)
    snap.agreement = _pick_agreement(candidates, request.purpose, day)
    if snap.agreement is not None:
        snap.agreement_subprocessors = subprocessors.get(snap.agreement.id, [])
    if snap.purpose is not None and snap.purpose.requires_deployment:
        snap.deployment = view.get(("deployment", hospital.id, tool.id), lambda s: s.scalar(
            _DEPLOYMENT, {"hospital": hospital.id, "tool": tool.id}))
    if request.patient_pseudonym:
        snap.objection = session.scalar(_OBJECTION, {
            "hospital": hospital.id, "pseudonym": request.patient_pseudonym,
            "purpose": request.purpose, "day": day})
    return snap


def _study(request: DecisionIn) -> Study:
    s = request.study
    return Study(modality=s.modality, body_part=s.body_part, age_years=s.age_years,
                 sex=s.patient_sex, sop_class_uids=tuple(s.sop_class_uids), contrast=s.contrast)


def _refs(snap: Snapshot) -> dict[str, Any]:
    refs: dict[str, Any] = {}
    if snap.licence is not None:
        refs["licence"] = {"id": snap.licence.id, "reference": snap.licence.reference}
    if snap.contract is not None:
        refs["contract"] = {"id": snap.contract.id, "reference": snap.contract.reference}
    if snap.agreement is not None:
        refs["agreement"] = {"id": snap.agreement.id, "reference": snap.agreement.reference}
    if snap.version is not None:
        refs["tool_version"] = {"id": snap.version.id, "version": snap.version.version}
    if snap.deployment is not None:
        refs["deployment"] = {"id": snap.deployment.id, "status": snap.deployment.status}
    return refs


def _quota_view(snap: Snapshot, used: int) -> dict[str, Any] | None:
    lic = snap.licence
    if lic is None or lic.quota_limit is None:
        return None
    window = licence_window(lic, snap.day)
    return {"limit": lic.quota_limit, "used": used, "remaining": max(lic.quota_limit - used, 0),
            "period_start": window.starts_on.isoformat(), "period_end": window.ends_on.isoformat()}


# -- deciding -------------------------------------------------------------------------------------

def _evaluate(engine: PolicyEngine, snap: Snapshot, request: DecisionIn, principal: str):
    facts = compute_facts(snap, _study(request))
    verdict = engine.evaluate(principal, request.tool, facts.context)
    return facts, verdict


def _build(*, actor: Actor, clock: Clock, engine: PolicyEngine, kind: str, snap: Snapshot,
           request: DecisionIn, facts, verdict, reservation: str, overage: bool,
           idem: str | None) -> DecisionRecord:
    """The decision, built in memory (not added to the session: :func:`_insert` stores it)."""
    permit = verdict.permit
    reasons = [] if permit else [explain(code, snap, facts) for code in verdict.failed]
    obligations = []
    if permit and kind == "decide" and not request.dry_run:
        obligations.append({"code": "REPORT_USAGE"})
        if overage:
            obligations.append({"code": "OVERAGE_BILLABLE"})
    window = licence_window(snap.licence, snap.day) if snap.licence is not None else None
    decision = DecisionRecord(
        id=new_uuid(), decided_at=clock.now(), kind=kind,
        outcome="permit" if permit else "deny", dry_run=request.dry_run, evaluated_on=snap.day,
        gateway_id=snap.gateway.id if snap.gateway is not None else None,
        hospital_id=snap.hospital.id, actor=actor.ref, tool_slug=request.tool,
        tool_version_id=snap.version.id if snap.version is not None else None,
        purpose=request.purpose, study_key=request.study.study_key, idempotency_key=idem,
        reasons=reasons, obligations=obligations, refs=_refs(snap),
        request=request.model_dump(mode="json", exclude={"at", "hospital_ura"}),
        facts=facts.context, rules=list(verdict.rules), policy_version=engine.version,
        licence_id=snap.licence.id if snap.licence is not None and reservation != Reservation.NONE else None,
        quota_window_start=window.starts_on if window and reservation != Reservation.NONE else None,
        overage=overage, reservation=reservation, finalised_at=None,
    )
    return decision


def _store(session: Session, decision: DecisionRecord, *, actor: Actor, once: bool = False) -> bool:
    """Store ``decision`` and its audit entry with Core inserts (no unit of work for rows that
    are never updated here). With ``once``, a permit whose idempotency key is already taken is
    not stored, nor its entry: False.

    On PostgreSQL both rows go in one statement (the decision insert as a CTE that the audit
    insert selects from), one round trip instead of two; SQLite has no DML in a CTE, and its
    statements cost no round trip."""
    values, entry = vars(decision), _audit_values(actor, decision)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        params = {f"d_{key}": value for key, value in values.items()}
        params.update({f"a_{key}": value for key, value in entry.items()})
        return _decision_with_entry(tuple(values), tuple(entry), once).first(conn, params) is not None
    plain, permit_once, audit = _inserts(tuple(values), tuple(entry))
    if not once:
        plain.run(conn, values)
    elif permit_once.first(conn, values) is None:
        return False
    audit.run(conn, entry)
    return True


def _decision_with_entry(decision_keys: tuple[str, ...], entry_keys: tuple[str, ...], once: bool,
                         _cache: dict = {}):  # noqa: B006 - a deliberate per-process cache
    """PostgreSQL: WITH d AS (INSERT INTO decisions … [ON CONFLICT (idempotency_key) DO NOTHING]
    RETURNING id) INSERT INTO audit_entries SELECT … FROM d RETURNING id: the entry exists exactly
    when the decision was stored, and a row back says so."""
    key = (decision_keys, entry_keys, once)
    if key not in _cache:
        decisions_table, audit_table = Decision.__table__, AuditEntry.__table__
        stored = pg_insert(decisions_table).values(with_defaults(decisions_table, decision_keys, "d_"))
        if once:
            stored = stored.on_conflict_do_nothing(index_elements=["idempotency_key"])
        stored = stored.returning(decisions_table.c.id).cte("stored_decision")
        # The columns an entry leaves to their defaults (unsealed, this system as source) are
        # spelled out by with_defaults.
        columns = with_defaults(audit_table, entry_keys, "a_")
        _cache[key] = Direct(insert(audit_table).from_select(
            [audit_table.c[k] for k in columns], select(*columns.values()).select_from(stored),
            include_defaults=False).returning(audit_table.c.id))
    return _cache[key]


def _audit_values(actor: Actor, decision: DecisionRecord) -> dict[str, Any]:
    """NEN 7513: an E (execute) event for the transfer the gateway asks to start."""
    checks = {"authorisation": decision.outcome, "consent": "objection" if any(
        r["code"] == "PATIENT_OBJECTION" for r in decision.reasons) else "no-objection",
        "reasons": [r["code"] for r in decision.reasons]}
    objects = [{"type": "decision", "id": decision.id},
               {"type": "tool", "id": decision.tool_slug},
               {"type": "study", "id": decision.study_key, "sensitivity": "opaque-key"},
               {"type": "organisations", "id": str(decision.hospital_id)}]
    # The terms the decision relied on, named as their change records name them (table, id), so
    # that an agreement's or a licence's history shows its changes and the decisions under it.
    for table, ref in (("gateways", decision.gateway_id), ("tool_versions", decision.tool_version_id),
                       ("licences", (decision.refs.get("licence") or {}).get("id")),
                       ("framework_contracts", (decision.refs.get("contract") or {}).get("id")),
                       ("data_processing_agreements", (decision.refs.get("agreement") or {}).get("id"))):
        if ref is not None:
            objects.append({"type": table, "id": str(ref)})
    if decision.request.get("patient_pseudonym"):
        objects.append({"type": "patient", "id": decision.request["patient_pseudonym"],
                        "sensitivity": "pseudonym"})
    return entry_values(actor=actor, at=decision.decided_at,
                        event_type="decision" if decision.kind == "decide" else "evaluation",
                        action_code=EXECUTE,
                        outcome="success" if decision.outcome == "permit" else "denied",
                        object_type="decision", object_id=decision.id, objects=objects, checks=checks,
                        detail={"outcome": decision.outcome, "dry_run": decision.dry_run,
                                "evaluated_on": decision.evaluated_on.isoformat(),
                                "policy_version": decision.policy_version},
                        purpose_of_use=decision.purpose)


def decide(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
           request: DecisionIn, terms: TermsCache | None = None) -> DecisionOutcome:
    """Decide for the actor's own gateway and hospital (never one named in the body).

    ``terms`` is the process's in-memory terms (the app's); without it every decision loads them.

    When the session's transaction was begun as a read (SQLite, ``requires(reads_first=True)``),
    everything up to the first write — the revision, the terms, any objection, the policies —
    runs without SQLite's write lock, so that other workers decide meanwhile; the write lock is
    held only for the writes. Before writing, that read ends and the revision and any stored
    permit are read again under the lock: if either moved in between, the decision is made
    again from the start, under the lock (see :func:`_to_writing`).
    """
    actor.require(Permission.ROUTING_DECIDE)
    if actor.kind != "gateway" or actor.hospital_id is None:
        raise PermissionDenied(Permission.ROUTING_DECIDE, actor)
    idem = idempotency_key(actor.hospital_id, request.tool, request.purpose, request.study.study_key)
    args = {"actor": actor, "clock": clock, "engine": engine, "request": request, "terms": terms,
            "idem": idem}
    outcome = _decide(session, **args, apart=reads_first(session.connection()))
    if outcome is None:  # the terms or the study's permit moved between reading and writing
        outcome = _decide(session, **args, apart=False)
    return outcome


def _to_writing(session: Session, read: tuple[int, str | None], key: str | None) -> bool:
    """End the read and begin writing (SQLite's write lock taken by the next BEGIN IMMEDIATE);
    True when the revision and the study's permit are still what the read saw. Nothing was
    written yet, so the commit only ends the read."""
    begin_writing(session)
    return _REVISION_AND_PERMIT.first(session.connection(), {"key": key}) == read


def _decide(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine, request: DecisionIn,
            terms: TermsCache | None, idem: str, apart: bool) -> DecisionOutcome | None:
    """One attempt; with ``apart``, None when what was read moved before the writing began."""
    key = None if request.dry_run else idem
    # Core statements go straight to the transaction's connection: the ORM's execution layer
    # costs more than an indexed lookup here.
    read = revision, stored = _REVISION_AND_PERMIT.first(session.connection(), {"key": key})
    if stored is not None:
        if apart and not _to_writing(session, read, key):
            return None
        return _replayed(session, actor=actor, clock=clock, outcome=_find_permit(session, idem),
                         request=request)
    view = terms_view(session, terms, revision)
    gateway, hospital = _gateway_and_hospital(view, actor.gateway_id)
    # Where the policies only ask whether any quota is left, the count is not read first: the
    # facts start as "some left", the reservation's own statement returns the count, and only a
    # deny or a dry run (which reserve nothing) reads it, to judge and report it exactly.
    count_later = engine.quota_only_compared_to_zero
    snap = load_snapshot(session, hospital=hospital, gateway=gateway, request=request,
                         day=term_date(clock.now()), view=view, read_quota=not count_later)
    facts, verdict = _evaluate(engine, snap, request, actor.id)
    limited = snap.licence is not None and snap.licence.quota_limit is not None
    if count_later and limited and (not verdict.permit or request.dry_run):
        snap.quota_used = quota_service.used_in_window(session, snap.licence.id, facts.window.starts_on)
        facts, verdict = _evaluate(engine, snap, request, actor.id)
    used = snap.quota_used
    kw = {"actor": actor, "clock": clock, "engine": engine, "kind": "decide", "snap": snap,
          "request": request}
    if apart and not _to_writing(session, read, key):
        return None
    if not verdict.permit or request.dry_run:
        decision = _build(**kw, facts=facts, verdict=verdict, reservation=Reservation.NONE,
                          overage=False, idem=None)
        _store(session, decision, actor=actor)
        return DecisionOutcome(decision, _quota_view(snap, used))
    lic = snap.licence
    reserved, overage, used_after = quota_service.reserve(
        session, lic.id, facts.window, lic.quota_limit, lic.on_quota_exhausted == "overage", clock=clock)
    if reserved and count_later and limited:
        facts, verdict = _counted(engine, snap, request, actor.id, facts, verdict, used_after - 1)
        if not verdict.permit:  # the true count changed the verdict (not with the shipped policies)
            quota_service.release(session, lic.id, facts.window.starts_on)
            reserved = False
    if not reserved:
        # No unit left: none was (the count was not read first), or another gateway took the
        # last one between our read and our write. Re-decide on the full count, so the deny
        # carries its reasons from the policies.
        snap.quota_used = used = lic.quota_limit
        facts, verdict = _evaluate(engine, snap, request, actor.id)
        decision = _build(**kw, facts=facts, verdict=verdict, reservation=Reservation.NONE,
                          overage=False, idem=None)
        _store(session, decision, actor=actor)
    else:
        used = used_after
        decision = _build(**kw, facts=facts, verdict=verdict, reservation=Reservation.RESERVED,
                          overage=overage, idem=idem)
        if not _store(session, decision, actor=actor, once=True):
            # A retry of this study was permitted by a concurrent request: give back the unit
            # just taken (same transaction) and answer with the stored permit.
            quota_service.release(session, lic.id, facts.window.starts_on)
            return _replayed(session, actor=actor, clock=clock, outcome=_find_permit(session, idem),
                             request=request)
    return DecisionOutcome(decision, _quota_view(snap, used))


def _counted(engine: PolicyEngine, snap: Snapshot, request: DecisionIn, principal: str, facts, verdict,
             used_before: int):
    """The facts and verdict with the true count before this decision's unit, learnt from the
    reservation. While some quota was left the verdict is the one already given (the policies
    only ask whether any is left) and only the stored facts change; past the limit (overage) the
    policies judge again."""
    snap.quota_used = used_before
    if used_before < snap.licence.quota_limit:
        facts.quota = QuotaState(snap.licence.quota_limit, used_before, facts.quota.rule)
        facts.context["licence"]["quota_remaining"] = facts.quota.remaining
        return facts, verdict
    return _evaluate(engine, snap, request, principal)


def _replayed(session: Session, *, actor: Actor, clock: Clock, outcome: DecisionOutcome,
              request: DecisionIn) -> DecisionOutcome:
    """A retry gets the stored permit, but only for the very same request: a study key reused
    with other study data or another pseudonym (say, one with an objection) must not ride on an
    earlier permit. Every replay is an access of its own in the audit trail (NEN 7513)."""
    stored = outcome.decision
    if stored.request != request.model_dump(mode="json", exclude={"at", "hospital_ura"}):
        raise Conflict("this study_key was already permitted for a different request; "
                       "use a new study_key for a different study",
                       {"study.study_key": "reused with different study data"})
    append_entry(session, actor=actor, at=clock.now(), event_type="decision-replay",
                 action_code=EXECUTE, outcome="success", object_type="decision",
                 object_id=stored.id, purpose_of_use=stored.purpose,
                 detail={"replay_of": stored.id, "decided_at": stored.decided_at.isoformat()})
    session.flush()
    return outcome


def _find_permit(session: Session, idem: str) -> DecisionOutcome | None:
    existing = session.scalar(_PERMIT_BY_KEY, {"key": idem})
    if existing is None:
        return None
    lic = session.get(Licence, existing.licence_id) if existing.licence_id else None
    quota = None
    if lic is not None and lic.quota_limit is not None and existing.quota_window_start:
        used = quota_service.used_in_window(session, lic.id, existing.quota_window_start)
        window = licence_window(lic, existing.evaluated_on)
        quota = {"limit": lic.quota_limit, "used": used, "remaining": max(lic.quota_limit - used, 0),
                 "period_start": window.starts_on.isoformat(), "period_end": window.ends_on.isoformat()}
    return DecisionOutcome(existing, quota, replayed=True)


def evaluate_at(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                request: EvaluateIn, terms: TermsCache | None = None) -> DecisionOutcome:
    """Time travel: the same engine on the terms as they stand, for the day ``at``; reserves nothing.

    A gateway evaluates for its own hospital; staff with ``decisions:evaluate`` may name any.
    """
    gateway = None
    if actor.kind == "gateway":
        actor.require(Permission.ROUTING_DECIDE)
        if request.hospital_ura:
            raise ValidationFailed("a gateway evaluates for its own hospital only",
                                   {"hospital_ura": "not allowed for gateways"})
        gateway = session.get(Gateway, actor.gateway_id)
        hospital = session.get(Organisation, actor.hospital_id)
    else:
        actor.require(Permission.DECISIONS_EVALUATE)
        if not request.hospital_ura:
            raise ValidationFailed("name the hospital", {"hospital_ura": "is required for staff"})
        hospital = session.scalar(select(Organisation).where(Organisation.ura == request.hospital_ura,
                                                             Organisation.kind == "hospital"))
        if hospital is None:
            raise ValidationFailed("unknown hospital", {"hospital_ura": "no hospital with this URA"})
    snap = load_snapshot(session, hospital=hospital, gateway=gateway, request=request, day=request.at,
                         view=terms_view(session, terms))
    facts, verdict = _evaluate(engine, snap, request, actor.id)
    decision = _build(actor=actor, clock=clock, engine=engine, kind="evaluate", snap=snap,
                      request=request, facts=facts, verdict=verdict, reservation=Reservation.NONE,
                      overage=False, idem=None)
    _store(session, decision, actor=actor)
    return DecisionOutcome(decision, _quota_view(snap, snap.quota_used))


def get_decision(session: Session, *, actor: Actor, decision_id: str) -> Decision:
    """A stored decision. Gateways see only their own hospital's; staff need decisions:read, and
    staff of a hospital see only that hospital's (national staff, with no organisation or with
    the consortium, see all)."""
    decision = session.get(Decision, decision_id)
    if actor.kind == "gateway":
        actor.require(Permission.ROUTING_DECIDE)
        own = actor.hospital_id
    else:
        actor.require(Permission.DECISIONS_READ)
        org = session.get(Organisation, actor.organisation_id) if actor.organisation_id else None
        own = org.id if org is not None and org.kind == "hospital" else None
    if decision is not None and own is not None and decision.hospital_id != own:
        decision = None  # another hospital's decision does not exist for this caller
    if decision is None:
        raise NotFound(f"no decision {decision_id}")
    return decision


def decision_view(outcome: DecisionOutcome, ttl_seconds: int = 0) -> dict[str, Any]:
    d = outcome.decision
    return {
        "decision_id": d.id, "decision": d.outcome, "reasons": d.reasons,
        "obligations": d.obligations, "refs": d.refs, "quota": outcome.quota,
        "policy_version": d.policy_version,
        "decided_at": d.decided_at.isoformat().replace("+00:00", "Z"),
        "evaluated_on": d.evaluated_on.isoformat(), "dry_run": d.dry_run,
        "replayed": outcome.replayed, "ttl_seconds": ttl_seconds,
    }


def decision_detail(d: Decision, *, actor: Actor) -> dict[str, Any]:
    """The stored decision with its facts and rules, for explaining it.

    The patient's pseudonym is shown to the hospital's own gateway and to staff who work with
    objections or the audit trail; for everyone else it is withheld (need to know).
    """
    request = dict(d.request)
    if request.get("patient_pseudonym") and not (
            actor.kind == "gateway" or actor.can(Permission.OBJECTIONS_READ)
            or actor.can(Permission.AUDIT_READ)):
        request["patient_pseudonym"] = "(withheld)"
    return {
        "decision_id": d.id, "kind": d.kind, "decision": d.outcome, "dry_run": d.dry_run,
        "decided_at": d.decided_at.isoformat().replace("+00:00", "Z"),
        "evaluated_on": d.evaluated_on.isoformat(), "actor": d.actor, "tool": d.tool_slug,
        "purpose": d.purpose, "study_key": d.study_key, "reasons": d.reasons,
        "obligations": d.obligations, "refs": d.refs, "request": request, "facts": d.facts,
        "rules": d.rules, "policy_version": d.policy_version, "reservation": d.reservation,
    }
