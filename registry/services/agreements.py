"""Data-processing agreements (verwerkersovereenkomsten) and their approved sub-processors."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.agreements import AgreementStatus, DataProcessingAgreement, SubProcessor
from registry.db.consent import Purpose
from registry.db.organisations import Organisation
from registry.permissions import Permission
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ValidationFailed

# Allowed transitions of the agreement's workflow (legal review → signature → termination).
TRANSITIONS: dict[str, set[str]] = {
    AgreementStatus.DRAFT: {AgreementStatus.IN_REVIEW, AgreementStatus.TERMINATED},
    AgreementStatus.IN_REVIEW: {AgreementStatus.DRAFT, AgreementStatus.SIGNED,
                                AgreementStatus.TERMINATED},
    AgreementStatus.SIGNED: {AgreementStatus.TERMINATED},
    AgreementStatus.TERMINATED: set(),
}


def create_agreement(session: Session, *, actor: Actor, clock: Clock, reference: str,
                     controller_id: int, processor_id: int, purposes: list[str],
                     effective_on: date | None, ends_on: date | None, status: str = "draft",
                     signed_on: date | None = None, subprocessors: list[dict[str, Any]] = (),
                     **details: Any) -> DataProcessingAgreement:
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    controller = session.get(Organisation, controller_id)
    if controller is None or controller.kind != "hospital":
        fields["controller_id"] = "the controller must be a hospital"
    if session.get(Organisation, processor_id) is None:
        fields["processor_id"] = "unknown organisation"
    unknown = [p for p in purposes if session.get(Purpose, p) is None]
    if unknown:
        fields["purposes"] = f"unknown purpose codes: {', '.join(unknown)}"
    if effective_on and ends_on and ends_on < effective_on:
        fields["ends_on"] = "ends before it takes effect"
    if status == AgreementStatus.SIGNED and not (signed_on and effective_on):
        fields["signed_on"] = "a signed agreement needs a signature date and an effective date"
    if fields:
        raise ValidationFailed("invalid data-processing agreement", fields)
    dpa = DataProcessingAgreement(reference=reference, controller_id=controller_id,
                                  processor_id=processor_id, purposes=list(purposes),
                                  effective_on=effective_on, ends_on=ends_on, status=status,
                                  signed_on=signed_on, **details)
    create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE, row=dpa)
    for sp in subprocessors:
        add_subprocessor(session, actor=actor, clock=clock, agreement_id=dpa.id, **sp)
    return dpa


def add_subprocessor(session: Session, *, actor: Actor, clock: Clock, agreement_id: int, name: str,
                     organisation_id: int | None = None, role: str = "", location: str = "",
                     approved_on: date | None = None) -> SubProcessor:
    """Art. 28(2): a sub-processor only with the controller's prior written authorisation."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    if session.get(DataProcessingAgreement, agreement_id) is None:
        raise NotFound(f"no agreement {agreement_id}")
    sp = SubProcessor(agreement_id=agreement_id, organisation_id=organisation_id, name=name,
                      role=role, location=location, approved_on=approved_on)
    return create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                      row=sp)


def transition_agreement(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                         to: str, reason: str = "", signed_on: date | None = None,
                         effective_on: date | None = None) -> DataProcessingAgreement:
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = session.get(DataProcessingAgreement, agreement_id)
    if dpa is None:
        raise NotFound(f"no agreement {agreement_id}")
    if to not in TRANSITIONS.get(dpa.status, set()):
        raise ValidationFailed(f"an agreement cannot go from {dpa.status} to {to}",
                               {"status": f"allowed: {sorted(TRANSITIONS.get(dpa.status, set()))}"})
    changes: dict[str, Any] = {"status": to, "status_reason": reason}
    if to == AgreementStatus.SIGNED:
        if not signed_on or not (effective_on or dpa.effective_on):
            raise ValidationFailed("signing needs a signature date and an effective date",
                                   {"signed_on": "is required"})
        changes["signed_on"] = signed_on
        changes["effective_on"] = effective_on or dpa.effective_on
    action = {"signed": "sign", "terminated": "terminate", "in_review": "submit_for_review",
              "draft": "return_to_draft"}[to]
    return update_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                      row=dpa, changes=changes, action=action, message=reason)
