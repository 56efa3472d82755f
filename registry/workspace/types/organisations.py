"""Organisations: hospitals, vendors, the platform operator and the consortium."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy import or_, select

from registry.db.contracts import Licence
from registry.db.organisations import Gateway, Organisation, OrganisationKind, OrganisationStatus
from registry.db.tools import Tool
from registry.db.users import User
from registry.permissions import Permission
from registry.scope import restrict
from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, Related, contains, register
from registry.workspace.labels import ENUMS


class OrganisationOut(BaseModel):
    id: int
    kind: str
    name: str
    country: str
    ura: str | None
    agb: str | None
    kvk: str | None
    status: str
    status_since: date | None
    status_reason: str | None
    illustrative: bool


def _options(enum: str, values) -> callable:  # noqa: ANN001
    return lambda session, scope: [(str(v), str(ENUMS[enum][str(v)])) for v in values]


def _related(session, scope, org):  # noqa: ANN001, ANN202
    out = []
    if org.kind == OrganisationKind.HOSPITAL:
        out.append(Related(_l("Gateways"), "gateways", list(session.scalars(restrict(
            select(Gateway).where(Gateway.hospital_id == org.id).order_by(Gateway.name), scope, Gateway)))))
        out.append(Related(_l("Licences"), "licences", list(session.scalars(restrict(
            select(Licence).where(Licence.hospital_id == org.id).order_by(Licence.reference), scope,
            Licence)))))
    if org.kind in (OrganisationKind.VENDOR, OrganisationKind.PLATFORM_OPERATOR):
        out.append(Related(_l("Tools"), "tools", list(session.scalars(restrict(
            select(Tool).where(or_(Tool.vendor_id == org.id, Tool.operator_id == org.id))
            .order_by(Tool.name), scope, Tool)))))
    out.append(Related(_l("Users"), "users", list(session.scalars(restrict(
        select(User).where(User.organisation_id == org.id).order_by(User.email), scope, User)))))
    return out


ORGANISATIONS = register(ObjectType(
    key="organisations", model=Organisation, singular=_l("organisation"), plural=_l("Organisations"),
    read=Permission.ORGANISATIONS_READ, write=Permission.ORGANISATIONS_WRITE,
    columns=[
        Column("name", _l("Name"), sort=Organisation.name, kind="link"),
        Column("kind", _l("Kind"), sort=Organisation.kind, kind="badge", enum="kind"),
        Column("ura", _l("URA"), sort=Organisation.ura),
        Column("agb", _l("AGB code"), sort=Organisation.agb),
        Column("kvk", _l("KvK number"), sort=Organisation.kvk),
        Column("status", _l("Status"), sort=Organisation.status, kind="badge", enum="status"),
        Column("status_since", _l("Since"), sort=Organisation.status_since, kind="day"),
    ],
    filters=[
        Filter("kind", _l("Kind"), lambda s, v: s.where(Organisation.kind == v),
               options=_options("kind", OrganisationKind), kind="select"),
        Filter("status", _l("Status"), lambda s, v: s.where(Organisation.status == v),
               options=_options("status", OrganisationStatus), kind="select"),
    ],
    search=lambda q: or_(contains(Organisation.name, q), Organisation.ura == q,
                         Organisation.agb == q, Organisation.kvk == q),
    default_sort="name",
    title=lambda o: o.name,
    public=OrganisationOut,
    to_public=lambda o, names: OrganisationOut.model_validate(o, from_attributes=True).model_dump(mode="json"),
    fields=lambda o, names: [
        (_l("Kind"), ("kind", o.kind), "badge"), (_l("Country"), o.country, "text"),
        (_l("URA"), o.ura, "text"), (_l("AGB code"), o.agb, "text"), (_l("KvK number"), o.kvk, "text"),
        (_l("Status"), ("status", o.status), "badge"), (_l("Since"), o.status_since, "day"),
        (_l("Reason"), o.status_reason, "text"),
        (_l("Illustrative (demo)"), o.illustrative, "bool"),
    ],
    related=_related,
    create_endpoint="web.organisation_create",
))
