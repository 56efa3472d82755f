"""Staff API for organisations: register, change (PATCH: only the fields named), suspend and
reactivate with a reason. Offboarding is the procurement workspace's guided action, not here."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import jsonify
from pydantic import Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services import organisations as service
from registry.services.errors import ValidationFailed
from registry.workspace import OBJECT_TYPES
from registry.workspace.base import Names, get_row
from registry.workspace.types.organisations import OrganisationOut

Digits8 = Annotated[str, Field(pattern=r"^[0-9]{8}$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
TAG = "Staff: organisations"


class OrganisationIn(_Strict):
    kind: Literal["hospital", "vendor", "platform_operator", "consortium"]
    name: Name
    ura: Digits8 | None = None
    agb: Digits8 | None = None
    kvk: Digits8 | None = None
    country: Country = "NL"


class OrganisationPatch(_Strict):
    """Every field optional; the ones present are changed, the rest left alone (null clears an
    identifier)."""

    name: Name | None = None
    ura: Digits8 | None = None
    agb: Digits8 | None = None
    kvk: Digits8 | None = None
    country: Country | None = None


class ReasonIn(_Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


def _out(org) -> dict:  # noqa: ANN001
    return OBJECT_TYPES["organisations"].to_public(org, Names(db()))


def _visible(key: str):  # noqa: ANN202
    return get_row(db(), actor=current_actor(), otype=OBJECT_TYPES["organisations"], key=key)


@blueprint.post("/organisations")
@document("Register an organisation", TAG, body=OrganisationIn, response=OrganisationOut,
          statuses={201: "Registered"})
@requires(Permission.ORGANISATIONS_WRITE)
def organisation_create():
    body = parse_body(OrganisationIn)
    session = db()
    org = service.create_organisation(session, actor=current_actor(), clock=registry().clock,
                                      **body.model_dump())
    session.commit()
    return jsonify(_out(org)), 201


@blueprint.patch("/organisations/<key>")
@document("Change an organisation (only the fields named)", TAG, body=OrganisationPatch,
          response=OrganisationOut)
@requires(Permission.ORGANISATIONS_WRITE)
def organisation_update(key: str):
    body = parse_body(OrganisationPatch)
    session = db()
    changes = body.model_dump(exclude_unset=True)
    nulls = {k: "cannot be null" for k in ("name", "country") if k in changes and changes[k] is None}
    if nulls:
        raise ValidationFailed("invalid organisation", nulls)
    org = service.update_organisation(session, actor=current_actor(), clock=registry().clock,
                                      organisation_id=_visible(key).id, changes=changes)
    session.commit()
    return jsonify(_out(org))


def _set_status(key: str, status: str):  # noqa: ANN202
    body = parse_body(ReasonIn)
    session = db()
    org = service.set_organisation_status(session, actor=current_actor(), clock=registry().clock,
                                          organisation_id=_visible(key).id, status=status, reason=body.reason)
    session.commit()
    return jsonify(_out(org))


@blueprint.post("/organisations/<key>/suspend")
@document("Suspend an organisation (every routing request of it is denied)", TAG, body=ReasonIn,
          response=OrganisationOut)
@requires(Permission.ORGANISATIONS_WRITE)
def organisation_suspend(key: str):
    return _set_status(key, "suspended")


@blueprint.post("/organisations/<key>/reactivate")
@document("Reactivate a suspended organisation", TAG, body=ReasonIn, response=OrganisationOut)
@requires(Permission.ORGANISATIONS_WRITE)
def organisation_reactivate(key: str):
    return _set_status(key, "active")
