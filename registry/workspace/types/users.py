"""People who log in: their organisation, roles and state. Managed by admins."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import or_

from registry.db.users import User
from registry.permissions import ROLES, Permission
from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, contains, register
from registry.workspace.labels import ENUMS


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    roles: list[str]
    organisation: dict | None
    locale: str
    active: bool
    created_at: datetime


def _public(u: User, names) -> dict:  # noqa: ANN001
    org = names.orgs.get(u.organisation_id) if u.organisation_id else None
    return UserOut(id=u.id, email=u.email, name=u.name, roles=list(u.roles), locale=u.locale, active=u.active,
                   created_at=u.created_at,
                   organisation={"id": org.id, "name": org.name, "kind": org.kind} if org else None
                   ).model_dump(mode="json")


def _role_filter(stmt, value: str):  # noqa: ANN001, ANN202
    from sqlalchemy import String, cast

    if value not in ROLES:
        raise ValueError("choose a role from the list")
    return stmt.where(cast(User.roles, String).contains(f'"{value}"'))


USERS = register(ObjectType(
    key="users", model=User, singular=_l("user"), plural=_l("Users"),
    read=Permission.USERS_MANAGE, write=Permission.USERS_MANAGE,
    columns=[
        Column("email", _l("E-mail address"), sort=User.email, kind="link"),
        Column("name", _l("Name"), sort=User.name),
        Column("organisation_id", _l("Organisation"), kind="org"),
        Column("roles", _l("Roles"), kind="roles"),
        Column("active", _l("Active"), sort=User.active, kind="bool"),
    ],
    filters=[Filter("role", _l("Role"), _role_filter, kind="select",
                    options=lambda session, scope: [(r, str(ENUMS["role"][r])) for r in ROLES])],
    search=lambda q: or_(contains(User.email, q), contains(User.name, q)),
    default_sort="email", title=lambda u: u.name or u.email,
    public=UserOut, to_public=_public,
    fields=lambda u, names: [
        (_l("E-mail address"), u.email, "text"), (_l("Name"), u.name, "text"),
        (_l("Organisation"), u.organisation_id, "org"), (_l("Roles"), u.roles, "roles"),
        (_l("Language"), u.locale, "text"), (_l("Active"), u.active, "bool"),
        (_l("Created"), u.created_at, "moment"),
    ],
    create_endpoint="web.user_create",
))
