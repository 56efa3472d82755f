"""Use cases of the audit trail: seal, checkpoint, verify, search, object history, export, prune.

Sealing is the sequencer's work (``registry.audit.chain``); these services run it before they
verify or export so that nothing recorded so far is left out. They flush, never commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Integer, String, and_, cast, or_, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit import access
from registry.audit import export as formats
from registry.audit.chain import SealResult, checkpoint_now, seal_all, seal_pending, utc_stamp
from registry.audit.entries import DELETE, READ, append_entry
from registry.audit.retention import PruneResult, prune_expired
from registry.audit.verify import VerifyReport, public_keys, verify_chain
from registry.clock import Clock
from registry.db.audit import AuditCheckpoint, AuditEntry
from registry.domain.terms import AMSTERDAM
from registry.permissions import Permission
from registry.scope import restrict, scope_of, visibility
from registry.services.errors import NotFound, ValidationFailed
from registry.validation import InvalidInput, bounded_int, clean_text, iso_date

# Who may run the trail's own upkeep from outside the registry: sign a checkpoint on demand,
# seal, prune. Only admins hold it; the registry itself (the system actor) always may.
CHECKPOINT_PERMISSION = Permission.AUDIT_MANAGE
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
                  "fhir": "application/fhir+json"}
MAX_EXPORT_ROWS = 100_000


@dataclass(frozen=True)
class AuditFilter:
    """What the viewer and the exports filter on; every field is optional."""

    organisation_id: int | None = None
    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def clauses(self) -> list[Any]:
        out: list[Any] = []
        if self.organisation_id is not None:
            out.append(AuditEntry.on_behalf_of_id == self.organisation_id)
        if self.actor:
            out.append(AuditEntry.actor == self.actor)
        if self.action_code:
            out.append(AuditEntry.action_code == self.action_code)
        if self.since is not None:
            out.append(AuditEntry.recorded_at >= self.since)
        if self.until is not None:
            out.append(AuditEntry.recorded_at < self.until)
        if self.object_id:
            out.append(_involves(self.object_type, self.object_id))
        elif self.object_type:
            out.append(AuditEntry.object_type == self.object_type)
        return out


def filter_from_params(params: Any) -> AuditFilter:
    """An ``AuditFilter`` from query parameters (API and viewer alike). The period is given in
    calendar days, Amsterdam time, both ends inclusive, as everywhere else in the registry."""
    fields: dict[str, str] = {}

    def parsed(parse, name: str, **kw):  # noqa: ANN001, ANN003, ANN202
        raw = (params.get(name) or "").strip()
        if not raw:
            return None
        try:
            return parse(raw, name, **kw)
        except InvalidInput as exc:
            fields.update(exc.fields)
            return None

    def day(name: str, shift: int = 0) -> datetime | None:
        # LATEST_DATE is far from date.max, so the day after it still exists.
        found = parsed(iso_date, name)
        if found is None:
            return None
        start = datetime.combine(found + timedelta(days=shift), time(), tzinfo=AMSTERDAM)
        return start.astimezone(timezone.utc)

    action = (params.get("action") or "").strip().upper()
    if action and action not in ("C", "R", "U", "D", "E"):
        fields["action"] = "one of C, R, U, D, E"
    texts = {name: parsed(clean_text, name, max_length=limit) or None
             for name, limit in (("actor", 120), ("object_type", 40), ("object_id", 64))}
    result = AuditFilter(
        organisation_id=parsed(bounded_int, "organisation"), actor=texts["actor"],
        object_type=texts["object_type"], object_id=texts["object_id"],
        action_code=action or None, since=day("from"), until=day("to", shift=1))
    if fields:
        raise ValidationFailed("invalid audit filter", fields)
    return result


def _involves(object_type: str | None, object_id: str) -> Any:
    """The entry's own object, or one of the objects it involved (a decision names its tool,
    study and patient pseudonym). ``objects`` is JSON on both databases; it is matched on its
    stored text, which SQLAlchemy writes as ``{"type": …, "id": …}`` in that order."""
    own = AuditEntry.object_id == object_id
    if object_type:
        own = and_(own, AuditEntry.object_type == object_type)
        needle = f"{json.dumps(object_type)}, \"id\": {json.dumps(object_id)}"
    else:
        needle = f"\"id\": {json.dumps(object_id)}"
    return or_(own, cast(AuditEntry.objects, String).contains(needle, autoescape=True))


def _seal(session: Session, *, clock: Clock, signer: Any, every: int | None) -> SealResult:
    return seal_all(session, clock=clock, signer=signer, checkpoint_every=every)


def seal_entries(session: Session, *, actor: Actor, clock: Clock, signer: Any = None,
                 checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
                 batch: int = 5000) -> SealResult:
    """One sequencer pass (CLI, background sealer). The registry itself does this work."""
    if actor.kind != "system":
        actor.require(CHECKPOINT_PERMISSION)
    return seal_pending(session, clock=clock, signer=signer, batch=batch,
                        checkpoint_every=checkpoint_every, checkpoint_minutes=checkpoint_minutes)


def create_checkpoint(session: Session, *, actor: Actor, clock: Clock, signer: Any) -> AuditCheckpoint:
    """Seal what is pending and sign a checkpoint at the head, now."""
    actor.require(CHECKPOINT_PERMISSION)
    return checkpoint_now(session, clock=clock, signer=signer)


def list_checkpoints(session: Session, *, after_seq: int = 0, limit: int = 1000) -> list[AuditCheckpoint]:
    """Published to anyone: a checkpoint reveals a hash and a count, nothing about patients."""
    return list(session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq > after_seq)
                                .order_by(AuditCheckpoint.seq).limit(max(1, min(limit, 1000)))))


def checkpoint_view(cp: AuditCheckpoint) -> dict[str, Any]:
    return {"seq": cp.seq, "head_hash": cp.head_hash, "created_at": utc_stamp(cp.created_at),
            "kid": cp.kid, "jws": cp.signature}


def verify_audit_trail(session: Session, *, actor: Actor, clock: Clock, signer: Any,
                       checkpoint_every: int | None = None, retention_days: int | None = None,
                       kept_checkpoints: Iterable[str] = (), workers: int = 1) -> VerifyReport:
    """Seal what is pending, then recompute the chain and check every checkpoint."""
    actor.require(Permission.AUDIT_READ)
    _seal(session, clock=clock, signer=signer, every=checkpoint_every)
    return verify_chain(session, keys=public_keys(session, signer), clock=clock,
                        retention_days=retention_days, kept_checkpoints=kept_checkpoints,
                        workers=workers)


def _filters_record(filters: AuditFilter) -> dict[str, str]:
    return {k: str(v) for k, v in filters.__dict__.items() if v is not None}


def search_entries(session: Session, *, actor: Actor, clock: Clock, filters: AuditFilter,
                   before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest first, a page at a time (``before_id`` is the last id of the previous page).

    Logged (NEN 7513: reading the access log is an access too); the caller commits."""
    actor.require(Permission.AUDIT_READ)
    query = restrict(select(AuditEntry).where(*filters.clauses()), scope_of(session, actor), AuditEntry)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 500)))))
    access.log_access(session, actor=actor, at=clock.now(), event_type=access.READ,
                      action_code=READ, outcome="success", object_type="audit-trail",
                      object_id="search", detail={"filters": _filters_record(filters),
                                                  "before_id": before_id, "entries": len(rows)})
    session.flush()
    return rows


def object_history(session: Session, *, actor: Actor, clock: Clock, object_type: str,
                   object_id: str, limit: int = 1000) -> list[AuditEntry]:
    """Everything that happened to (or with) one object, oldest first.

    Logged with the object among the entry's objects, so a patient's history also shows who
    looked it up; the caller commits."""
    actor.require(Permission.AUDIT_READ)
    scope = scope_of(session, actor)
    _require_visible_object(session, scope, object_type, object_id)
    rows = session.scalars(restrict(select(AuditEntry).where(_involves(object_type, object_id)),
                                    scope, AuditEntry)
                           .order_by(AuditEntry.id).limit(limit))
    # The text match above may over-match (an id inside another object's JSON); keep exact ones.
    found = [e for e in rows if (e.object_type, e.object_id) == (object_type, object_id)
             or any((str(o.get("type")), str(o.get("id"))) == (object_type, object_id)
                    for o in e.objects)]
    access.log_access(session, actor=actor, at=clock.now(), event_type=access.READ,
                      action_code=READ, outcome="success", object_type="audit-trail",
                      object_id="history", detail={"entries": len(found)},
                      objects=[{"type": "audit-trail", "id": "history"},
                               {"type": object_type, "id": object_id}])
    session.flush()
    return found


def _models_by_table() -> dict[str, Any]:
    from sqlmodel import SQLModel

    return {m.class_.__tablename__: m.class_ for m in SQLModel._sa_registry.mappers}


def _require_visible_object(session: Session, scope: Any, object_type: str, object_id: str) -> None:
    """The history of an object the scope hides is a 404, as the object's own page is: another
    hospital's object does not exist for a hospital's people (its entries are filtered as well,
    but even an empty 200 would say that it exists). An object that no longer exists keeps its
    history readable, within the entries the scope shows."""
    model = _models_by_table().get(object_type)
    if model is None or scope.national:
        return
    try:
        clause = visibility(scope, model)
    except LookupError:
        return  # not an object the scope rule knows (a pseudonym, the audit trail itself)
    if clause is None:
        return
    pk = list(model.__table__.primary_key.columns)[0]
    key: Any = object_id
    if isinstance(pk.type, Integer):
        if not (object_id.isascii() and object_id.isdigit() and len(object_id) <= 18):
            return
        key = int(object_id)
    if session.scalar(select(pk).where(pk == key)) is not None \
            and session.scalar(select(pk).where(pk == key, clause)) is None:
        raise NotFound(f"no {object_type} {object_id}")


def export_entries(session: Session, *, actor: Actor, clock: Clock, signer: Any, filters: AuditFilter,
                   fmt: str, checkpoint_every: int | None = None) -> tuple[str, str]:
    """The filtered entries, sealed first, oldest first, as ``(media type, body)``.

    The export is itself logged (NEN 7513: reading the access log is an access too).
    """
    actor.require(Permission.AUDIT_EXPORT)
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed("unknown export format", {"format": "one of " + ", ".join(EXPORT_FORMATS)})
    _seal(session, clock=clock, signer=signer, every=checkpoint_every)
    rows = session.scalars(restrict(select(AuditEntry).where(*filters.clauses()),
                                    scope_of(session, actor), AuditEntry)
                           .order_by(AuditEntry.seq).limit(MAX_EXPORT_ROWS))
    records = [formats.entry_record(e) for e in rows]
    append_entry(session, actor=actor, at=clock.now(), event_type="export", action_code=READ,
                 outcome="success", object_type="audit-trail", object_id=fmt,
                 detail={"format": fmt, "entries": len(records), "filters": _filters_record(filters)})
    session.flush()
    if fmt == "csv":
        body = formats.to_csv(records)
    elif fmt == "jsonl":
        body = formats.to_jsonl(records)
    else:
        body = json.dumps(formats.to_fhir_bundle(records, timestamp=utc_stamp(clock.now())))
    return EXPORT_FORMATS[fmt], body


def prune_audit_trail(session: Session, *, actor: Actor, clock: Clock,
                      retention_days: int) -> PruneResult:
    """Drop the checkpoint-bounded segments older than the retention period, and log that."""
    if actor.kind != "system":
        actor.require(CHECKPOINT_PERMISSION)
    result = prune_expired(session, clock=clock, retention_days=retention_days)
    if result.removed:
        append_entry(session, actor=actor, at=clock.now(), event_type="retention",
                     action_code=DELETE, outcome="success", object_type="audit-trail",
                     object_id=f"..{result.up_to_seq}",
                     detail={"up_to_seq": result.up_to_seq, "removed": result.removed,
                             "retention_days": retention_days})
        session.flush()
    return result
