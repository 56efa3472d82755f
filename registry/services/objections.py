"""Purposes and patients' objections (FHIR Consent, provision.type = deny, per purpose): recorded one
by one or uploaded (CSV, FHIR Bundle) all-or-nothing, withdrawn with their history kept, replaced as a
whole set after a key rotation, exported, and looked up for a data-subject access request.

The registry knows a patient only by pseudonym (HMAC-SHA256, :mod:`registry.domain.objections`).
An objection denies ``PATIENT_OBJECTION`` for its purpose from ``recorded_on`` up to and including
``withdrawn_on`` (registry.services.decisions, one rule).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit.entries import READ, append_entry
from registry.clock import Clock
from registry.db.consent import PatientObjection, Purpose
from registry.db.decisions import Decision
from registry.db.organisations import Organisation
from registry.domain import objections as formats
from registry.domain.identifiers import validate_pseudonym
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.scope import can_see, restrict, scope_of
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ValidationFailed

ROTATION_REASON = "replaced after key rotation"


def create_purpose(session: Session, *, actor: Actor, clock: Clock, code: str, label_en: str,
                   label_nl: str) -> Purpose:
    return create_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                      row=Purpose(code=code, label_en=label_en, label_nl=label_nl))


def _hospital(session: Session, actor: Actor, hospital_id: int) -> Organisation | None:
    """The hospital, if it is one and the actor may act for it (a hospital's privacy officer only
    for their own)."""
    hospital = session.get(Organisation, hospital_id)
    if hospital is None or hospital.kind != "hospital" or not can_see(
            session, scope_of(session, actor), Organisation, hospital):
        return None
    return hospital


def _active(session: Session, hospital_id: int, pseudonym: str | None = None) -> list[PatientObjection]:
    stmt = select(PatientObjection).where(PatientObjection.hospital_id == hospital_id,
                                          PatientObjection.withdrawn_on.is_(None))
    if pseudonym is not None:
        stmt = stmt.where(PatientObjection.pseudonym == pseudonym)
    return list(session.scalars(stmt))


def record_objection(session: Session, *, actor: Actor, clock: Clock, hospital_id: int,
                     pseudonym: str, purposes: list[str], recorded_on: date | None = None,
                     source: str = "ui") -> list[PatientObjection]:
    """Record that a patient (known only by pseudonym) objects to AI processing for purposes."""
    actor.require(Permission.OBJECTIONS_WRITE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    try:
        pseudonym = validate_pseudonym(pseudonym.strip())
    except ValueError as exc:
        fields["pseudonym"] = str(exc)
    if _hospital(session, actor, hospital_id) is None:
        fields["hospital_id"] = "must be a hospital you act for"
    unknown = [p for p in purposes if session.get(Purpose, p) is None]
    if unknown or not purposes:
        fields["purposes"] = f"unknown or missing purposes: {', '.join(unknown) or '(none)'}"
    elif "pseudonym" not in fields:
        already = {o.purpose for o in _active(session, hospital_id, pseudonym)} & set(purposes)
        if already:
            fields["purposes"] = f"already recorded for this pseudonym: {', '.join(sorted(already))}"
    if fields:
        raise ValidationFailed("invalid objection", fields)
    ref = uuid.uuid4().hex
    day = recorded_on or term_date(clock.now())
    return [
        create_row(session, actor=actor, clock=clock, permission=Permission.OBJECTIONS_WRITE,
                   row=PatientObjection(objection_ref=ref, hospital_id=hospital_id, pseudonym=pseudonym,
                                        purpose=p, recorded_on=day, source=source))
        for p in dict.fromkeys(purposes)
    ]


def withdraw_objection(session: Session, *, actor: Actor, clock: Clock, objection_id: int,
                       last_day: date | None = None, reason: str = "withdrawn by the patient") -> PatientObjection:
    """End an objection: it still applies on ``last_day`` (default today); the row stays."""
    actor.require(Permission.OBJECTIONS_WRITE)  # first: an unauthorised caller learns nothing
    row = session.get(PatientObjection, objection_id)
    if row is None or not can_see(session, scope_of(session, actor), PatientObjection, row):
        raise NotFound(f"no objection {objection_id}")
    day = last_day or term_date(clock.now())
    if row.withdrawn_on is not None:
        raise ValidationFailed("already withdrawn", {"objection": f"withdrawn after {row.withdrawn_on}"})
    if day < row.recorded_on:
        raise ValidationFailed("invalid withdrawal", {"last_day": "before the objection was recorded"})
    return update_row(session, actor=actor, clock=clock, permission=Permission.OBJECTIONS_WRITE,
                      row=row, changes={"withdrawn_on": day, "withdrawn_reason": reason[:200]},
                      action="withdraw", message=reason)


@dataclass
class ImportResult:
    recorded: int
    withdrawn: int


class UploadRefused(ValidationFailed):
    """An upload with errors: every bad line named, nothing stored."""

    def __init__(self, errors: list[formats.LineError]):
        fields = {}
        for err in errors[:200]:
            key = f"line {err.line}" if err.line else "file"
            fields[key] = f"{fields[key]}; {err.message}" if key in fields else err.message
        super().__init__(f"the upload has {len(errors)} error(s); nothing was stored", fields)
        self.errors = errors


def import_objections(session: Session, *, actor: Actor, clock: Clock, hospital_id: int, fmt: str,
                      content: bytes, replace: bool = False) -> ImportResult:
    """Record the objections of a CSV file or FHIR Bundle, all or none.

    ``replace`` is for a key rotation: the hospital's whole current set is withdrawn (it still
    applies today, as the gateway may switch keys during the day) and the upload becomes the set,
    in the same transaction."""
    actor.require(Permission.OBJECTIONS_WRITE)  # first: an unauthorised caller learns nothing
    if _hospital(session, actor, hospital_id) is None:
        raise ValidationFailed("invalid upload", {"hospital_id": "must be a hospital you act for"})
    if fmt == "csv":
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise UploadRefused([formats.LineError(0, "the file is not UTF-8 text")]) from None
        rows, errors = formats.parse_csv(text)
    elif fmt == "fhir":
        rows, errors = formats.parse_fhir_bundle(content)
        rows = [r for r in rows if r.active]  # an inactive Consent is history, not an objection
    else:
        raise ValidationFailed("invalid upload", {"format": "csv or fhir"})
    purposes = {p.code for p in session.scalars(select(Purpose).where(Purpose.active))}
    errors += formats.check_rows(rows, purposes)
    today = term_date(clock.now())
    current = {(o.pseudonym, o.purpose) for o in _active(session, hospital_id)}
    for row in rows:
        if not replace and (row.pseudonym, row.purpose) in current:
            errors.append(formats.LineError(row.line, "already recorded (withdraw it first, or replace the set)"))
        if row.recorded_on is not None and row.recorded_on > today:
            errors.append(formats.LineError(row.line, "recorded_on is in the future"))
    if not rows and not errors:
        errors.append(formats.LineError(0, "the file holds no objections"))
    if errors:
        raise UploadRefused(sorted(errors, key=lambda e: e.line))
    withdrawn = 0
    # One savepoint: if anything below fails, none of it stays (the edge then rolls back all).
    with session.begin_nested():
        if replace:
            for old in _active(session, hospital_id):
                withdraw_objection(session, actor=actor, clock=clock, objection_id=old.id, last_day=today,
                                   reason=ROTATION_REASON)
                withdrawn += 1
        for row in rows:
            create_row(session, actor=actor, clock=clock, permission=Permission.OBJECTIONS_WRITE,
                       row=PatientObjection(objection_ref=uuid.uuid4().hex, hospital_id=hospital_id,
                                            pseudonym=row.pseudonym, purpose=row.purpose,
                                            recorded_on=today if replace else (row.recorded_on or today),
                                            source=fmt))
    return ImportResult(recorded=len(rows), withdrawn=withdrawn)


def export_objections(session: Session, *, actor: Actor, fmt: str, hospital_id: int | None = None,
                      include_withdrawn: bool = False) -> str | dict[str, Any]:
    """The objections the actor may see, as CSV (current ones) or a FHIR Bundle (withdrawn ones
    as ``inactive`` Consents when asked)."""
    actor.require(Permission.OBJECTIONS_READ)
    stmt = restrict(select(PatientObjection), scope_of(session, actor), PatientObjection)
    if hospital_id is not None:
        stmt = stmt.where(PatientObjection.hospital_id == hospital_id)
    if not include_withdrawn:
        stmt = stmt.where(PatientObjection.withdrawn_on.is_(None))
    rows = list(session.scalars(stmt.order_by(PatientObjection.hospital_id, PatientObjection.pseudonym,
                                               PatientObjection.purpose, PatientObjection.id)))
    if fmt == "csv":
        return formats.render_csv([(o.pseudonym, o.purpose, o.recorded_on) for o in rows
                                   if o.withdrawn_on is None])
    uras = {o.id: o.ura for o in session.scalars(select(Organisation).where(Organisation.kind == "hospital"))}
    return formats.consent_bundle([
        formats.consent_resource(pseudonym_value=o.pseudonym, purpose=o.purpose, recorded_on=o.recorded_on,
                                 active=o.withdrawn_on is None, hospital_ura=uras.get(o.hospital_id),
                                 ref=f"objection-{o.id}") for o in rows])


@dataclass
class AccessReport:
    """What the registry holds about one pseudonym: objections and the decisions that named it."""

    pseudonym: str
    objections: list[PatientObjection]
    decisions: list[Decision]


def subject_access(session: Session, *, actor: Actor, clock: Clock, pseudonym: str,
                   limit: int = 1000) -> AccessReport:
    """For a data-subject access request (GDPR Art. 15): every decision about the pseudonym (what,
    when, which tool, permit or deny, objection applied) and its objections. The lookup itself is
    written to the audit trail, like Mitz lets citizens see who checked."""
    actor.require(Permission.OBJECTIONS_READ)
    actor.require(Permission.DECISIONS_READ)
    try:
        pseudonym = validate_pseudonym(pseudonym.strip())
    except ValueError as exc:
        raise ValidationFailed("invalid pseudonym", {"pseudonym": str(exc)}) from None
    scope = scope_of(session, actor)
    objections = list(session.scalars(restrict(select(PatientObjection), scope, PatientObjection)
                                      .where(PatientObjection.pseudonym == pseudonym)
                                      .order_by(PatientObjection.recorded_on, PatientObjection.id)))
    decisions = list(session.scalars(restrict(select(Decision), scope, Decision)
                                     .where(Decision.request["patient_pseudonym"].as_string() == pseudonym)
                                     .order_by(Decision.decided_at.desc()).limit(limit)))
    append_entry(session, actor=actor, at=clock.now(), event_type="subject-access", action_code=READ,
                 outcome="success", object_type="patient", object_id=pseudonym,
                 detail={"objections": len(objections), "decisions": len(decisions)},
                 purpose_of_use="data-subject access request")
    session.flush()
    return AccessReport(pseudonym, objections, decisions)
