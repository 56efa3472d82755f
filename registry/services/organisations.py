"""Organisations: hospitals, vendors, platform operators and the consortium."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

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
from registry.services._scope import require_national, require_visible
from registry.services.errors import NotFound, ValidationFailed


# The fields a staff member may edit; kind and status have their own paths (status: below).
EDITABLE = ("name", "ura", "agb", "kvk", "country")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _validated(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The editable fields cleaned (identifiers 8 digits or none, country ISO 3166 alpha-2), and
    the errors per field."""
    clean: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for key, value in values.items():
        if key == "name":
            if not value or not value.strip():
                fields["name"] = "is required"
            elif len(value.strip()) > 200:
                fields["name"] = "at most 200 characters"
            else:
                clean["name"] = value.strip()
        elif key in ("ura", "agb", "kvk"):
            try:
                clean[key] = validate_eight_digits(value, key.upper())
            except ValueError as exc:
                fields[key] = str(exc)
        elif key == "country":
            country = (value or "").strip().upper()
            if not _COUNTRY.match(country):
                fields["country"] = "must be a two-letter country code (ISO 3166), such as NL"
            else:
                clean["country"] = country
        else:
            fields[key] = "cannot be changed here"
    return clean, fields


def _taken(session: Session, clean: dict[str, Any], own_id: int | None = None) -> dict[str, str]:
    """Name and identifiers are unique: say which field clashes (the constraint is the backstop)."""
    fields = {}
    for key in ("name", "ura", "agb", "kvk"):
        value = clean.get(key)
        if value is None:
            continue
        other = session.scalar(select(Organisation.id).where(getattr(Organisation, key) == value))
        if other is not None and other != own_id:
            fields[key] = "is already registered for another organisation"
    return fields


def create_organisation(session: Session, *, actor: Actor, clock: Clock, kind: str, name: str,
                        ura: str | None = None, agb: str | None = None, kvk: str | None = None,
                        country: str = "NL", illustrative: bool = False) -> Organisation:
    """Register an organisation. Only national staff do: it is nobody's own organisation yet."""
    actor.require(Permission.ORGANISATIONS_WRITE)  # first: an unauthorised caller learns nothing
    require_national(session, actor, Permission.ORGANISATIONS_WRITE)
    clean, fields = _validated({"name": name, "ura": ura, "agb": agb, "kvk": kvk, "country": country})
    try:
        kind = OrganisationKind(kind)
    except ValueError:
        fields["kind"] = f"must be one of {', '.join(k.value for k in OrganisationKind)}"
    fields = {**_taken(session, clean), **fields}
    if fields:
        raise ValidationFailed("invalid organisation", fields)
    org = Organisation(kind=kind, illustrative=illustrative, status=OrganisationStatus.ACTIVE,
                       status_since=term_date(clock.now()), **clean)
    return create_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                      row=org)


def update_organisation(session: Session, *, actor: Actor, clock: Clock, organisation_id: int,
                        changes: dict[str, Any]) -> Organisation:
    """Change the fields named in ``changes`` (of :data:`EDITABLE`), nothing else. A hospital's or
    vendor's own staff may edit only their own organisation."""
    actor.require(Permission.ORGANISATIONS_WRITE)  # first: an unauthorised caller learns nothing
    org = get_organisation(session, organisation_id)
    require_visible(session, actor, Organisation, org, "organisation")
    clean, fields = _validated(changes)
    fields = {**_taken(session, clean, org.id), **fields}
    if fields:
        raise ValidationFailed("invalid organisation", fields)
    changed = {k: v for k, v in clean.items() if getattr(org, k) != v}
    if not changed:
        return org  # nothing to record
    return update_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                      row=org, changes=changed)


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
    require_visible(session, actor, Organisation, org, "organisation")
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
