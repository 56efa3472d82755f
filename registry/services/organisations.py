"""Organisations: hospitals, vendors, platform operators and the consortium."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.oauth import AccessToken
from registry.db.organisations import Gateway, Organisation, OrganisationKind, OrganisationStatus
from registry.domain.identifiers import validate_eight_digits
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ValidationFailed


def create_organisation(session: Session, *, actor: Actor, clock: Clock, kind: str, name: str,
                        ura: str | None = None, agb: str | None = None, kvk: str | None = None,
                        country: str = "NL", illustrative: bool = False) -> Organisation:
    actor.require(Permission.ORGANISATIONS_WRITE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    try:
        kind = OrganisationKind(kind)
    except ValueError:
        fields["kind"] = f"must be one of {', '.join(k.value for k in OrganisationKind)}"
    ids = {}
    for label, value in (("ura", ura), ("agb", agb), ("kvk", kvk)):
        try:
            ids[label] = validate_eight_digits(value, label.upper())
        except ValueError as exc:
            fields[label] = str(exc)
    if not name or not name.strip():
        fields["name"] = "is required"
    if fields:
        raise ValidationFailed("invalid organisation", fields)
    org = Organisation(kind=kind, name=name.strip(), country=country, illustrative=illustrative,
                       status=OrganisationStatus.ACTIVE, status_since=term_date(clock.now()), **ids)
    return create_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                      row=org)


def get_organisation(session: Session, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    return org


def find_by_ura(session: Session, ura: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.ura == ura))
    if org is None:
        raise NotFound(f"no organisation with URA {ura}")
    return org


def list_organisations(session: Session, *, kind: str | None = None) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.kind, Organisation.name)
    if kind:
        query = query.where(Organisation.kind == kind)
    return list(session.scalars(query))


def set_organisation_status(session: Session, *, actor: Actor, clock: Clock, organisation_id: int,
                            status: str, reason: str, on: date | None = None) -> Organisation:
    """Suspend, reactivate or offboard. Offboarding a hospital also revokes its gateways and
    their live tokens, so nothing of it can route from the next request on."""
    actor.require(Permission.ORGANISATIONS_WRITE)  # first: an unauthorised caller learns nothing
    org = get_organisation(session, organisation_id)
    try:
        status = OrganisationStatus(status)
    except ValueError as exc:
        raise ValidationFailed("invalid status", {"status": str(exc)}) from exc
    if org.status == OrganisationStatus.OFFBOARDED and status != OrganisationStatus.OFFBOARDED:
        raise ValidationFailed("an offboarded organisation cannot be reactivated; register anew")
    action = {"offboarded": "offboard", "suspended": "suspend", "active": "reactivate"}[status]
    update_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
               row=org, changes={"status": status, "status_reason": reason,
                                 "status_since": on or term_date(clock.now())},
               action=action, message=reason)
    if status == OrganisationStatus.OFFBOARDED and org.kind == OrganisationKind.HOSPITAL:
        now = clock.now()
        for gw in session.scalars(select(Gateway).where(Gateway.hospital_id == org.id,
                                                        Gateway.status != "revoked")):
            update_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                       row=gw, changes={"status": "revoked", "revoked_at": now}, action="revoke",
                       message=f"hospital offboarded: {reason}")
        session.execute(
            update(AccessToken)
            .where(AccessToken.gateway_id.in_(select(Gateway.id).where(Gateway.hospital_id == org.id)),
                   AccessToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return org
