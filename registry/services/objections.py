"""Purposes and patients' objections (FHIR Consent, provision.type = deny, per purpose)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.consent import PatientObjection, Purpose
from registry.db.organisations import Organisation
from registry.domain.identifiers import validate_pseudonym
from registry.permissions import Permission
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ValidationFailed


def create_purpose(session: Session, *, actor: Actor, clock: Clock, code: str, label_en: str,
                   label_nl: str) -> Purpose:
    return create_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                      row=Purpose(code=code, label_en=label_en, label_nl=label_nl))


def record_objection(session: Session, *, actor: Actor, clock: Clock, hospital_id: int,
                     pseudonym: str, purposes: list[str], recorded_on: date) -> list[PatientObjection]:
    """Record that a patient (known only by pseudonym) objects to AI processing for purposes."""
    actor.require(Permission.OBJECTIONS_WRITE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    try:
        pseudonym = validate_pseudonym(pseudonym)
    except ValueError as exc:
        fields["pseudonym"] = str(exc)
    hospital = session.get(Organisation, hospital_id)
    if hospital is None or hospital.kind != "hospital":
        fields["hospital_id"] = "must be a hospital"
    unknown = [p for p in purposes if session.get(Purpose, p) is None]
    if unknown or not purposes:
        fields["purposes"] = f"unknown or missing purposes: {', '.join(unknown) or '(none)'}"
    if fields:
        raise ValidationFailed("invalid objection", fields)
    ref = uuid.uuid4().hex
    return [
        create_row(session, actor=actor, clock=clock, permission=Permission.OBJECTIONS_WRITE,
                   row=PatientObjection(objection_ref=ref, hospital_id=hospital_id,
                                        pseudonym=pseudonym, purpose=p, recorded_on=recorded_on))
        for p in purposes
    ]


def withdraw_objection(session: Session, *, actor: Actor, clock: Clock, objection_id: int,
                       last_day: date) -> PatientObjection:
    actor.require(Permission.OBJECTIONS_WRITE)  # first: an unauthorised caller learns nothing
    row = session.get(PatientObjection, objection_id)
    if row is None:
        raise NotFound(f"no objection {objection_id}")
    return update_row(session, actor=actor, clock=clock, permission=Permission.OBJECTIONS_WRITE,
                      row=row, changes={"withdrawn_on": last_day}, action="withdraw")
