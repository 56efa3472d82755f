"""Staff API for users (users:manage): create (a one-time password in the answer, once), change
(PATCH: only the fields named), reset the password. No e-mail is ever sent."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import jsonify
from pydantic import Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.permissions import ROLES, Permission
from registry.schemas import _Strict
from registry.services import users as service
from registry.services.errors import ValidationFailed
from registry.workspace import OBJECT_TYPES
from registry.workspace.base import Names, get_row
from registry.workspace.types.users import UserOut

Role = Literal[ROLES]  # type: ignore[valid-type]
Roles = Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))]
TAG = "Staff: users"


class UserIn(_Strict):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    name: Annotated[str, Field(max_length=200)] = ""
    roles: Roles
    organisation_id: int | None = Field(default=None, description="none: national staff")
    locale: Literal["nl", "en"] = "nl"


class UserPatch(_Strict):
    """Every field optional; the ones present are changed, the rest left alone."""

    name: Annotated[str, Field(max_length=200)] | None = None
    roles: Roles | None = None
    organisation_id: int | None = Field(default=None, description="null: national staff")
    locale: Literal["nl", "en"] | None = None
    active: bool | None = Field(default=None, description="false disables the account")


class UserCreatedOut(UserOut):
    one_time_password: str = Field(description="shown once; the registry keeps only its hash")


class PasswordOut(_Strict):
    id: int
    one_time_password: str


def _out(user, **extra) -> dict:  # noqa: ANN001, ANN003
    return {**OBJECT_TYPES["users"].to_public(user, Names(db())), **extra}


def _visible(key: str):  # noqa: ANN202
    return get_row(db(), actor=current_actor(), otype=OBJECT_TYPES["users"], key=key)


@blueprint.post("/users")
@document("Create a user (the one-time password is in this answer only)", TAG, body=UserIn,
          response=UserCreatedOut, statuses={201: "Created"})
@requires(Permission.USERS_MANAGE)
def user_create():
    body = parse_body(UserIn)
    session = db()
    user, password = service.create_user(session, actor=current_actor(), clock=registry().clock,
                                         **body.model_dump())
    session.commit()
    return jsonify(_out(user, one_time_password=password)), 201, {"Cache-Control": "no-store"}


@blueprint.patch("/users/<key>")
@document("Change a user's name, roles, organisation, language or activity (only the fields named)",
          TAG, body=UserPatch, response=UserOut)
@requires(Permission.USERS_MANAGE)
def user_update(key: str):
    body = parse_body(UserPatch)
    changes = body.model_dump(exclude_unset=True)
    nulls = {k: "cannot be null" for k in ("name", "roles", "locale", "active") if k in changes
             and changes[k] is None}
    if nulls:
        raise ValidationFailed("invalid user", nulls)
    session = db()
    actor, clock = current_actor(), registry().clock
    user = _visible(key)
    active = changes.pop("active", None)
    if changes:
        service.update_user(session, actor=actor, clock=clock, user_id=user.id, changes=changes)
    if active is not None:
        service.set_user_active(session, actor=actor, clock=clock, user_id=user.id, active=active)
    session.commit()
    return jsonify(_out(user))


@blueprint.post("/users/<key>/reset-password")
@document("Give a user a new one-time password (in this answer only); their sessions end", TAG,
          response=PasswordOut)
@requires(Permission.USERS_MANAGE)
def user_reset_password(key: str):
    session = db()
    user, password = service.reset_password(session, actor=current_actor(), clock=registry().clock,
                                            user_id=_visible(key).id)
    session.commit()
    return jsonify({"id": user.id, "one_time_password": password}), 200, {"Cache-Control": "no-store"}
