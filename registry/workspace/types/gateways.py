"""Gateways: each hospital's machine that asks before it routes a study (an OAuth2 client)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from registry.db.organisations import Gateway, GatewayCredential, GatewayStatus, Organisation
from registry.permissions import Permission
from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, contains, register
from registry.workspace.types.organisations import _options


class GatewayOut(BaseModel):
    id: int
    name: str
    client_id: str
    hospital: dict
    status: str
    created_at: datetime
    credential_method: str | None


def hospital_options(session, scope) -> list[tuple[str, str]]:  # noqa: ANN001
    from registry.scope import restrict

    rows = session.scalars(restrict(select(Organisation).where(Organisation.kind == "hospital"),
                                    scope, Organisation).order_by(Organisation.name))
    return [(str(o.id), f"{o.name} ({o.ura})" if o.ura else o.name) for o in rows]


def _int_filter(column):  # noqa: ANN001, ANN202
    def apply(stmt, value: str):  # noqa: ANN001, ANN202
        if not value.isascii() or not value.isdigit() or len(value) > 12:
            raise ValueError("choose one from the list")
        return stmt.where(column == int(value))
    return apply


def current_credential(gateway: Gateway) -> GatewayCredential | None:
    return object_session(gateway).scalar(
        select(GatewayCredential).where(GatewayCredential.gateway_id == gateway.id,
                                        GatewayCredential.revoked_at.is_(None))
        .order_by(GatewayCredential.id.desc()))


def credentials(gateway: Gateway) -> list[GatewayCredential]:
    return list(object_session(gateway).scalars(
        select(GatewayCredential).where(GatewayCredential.gateway_id == gateway.id)
        .order_by(GatewayCredential.id)))


def _public(g: Gateway, names) -> dict:  # noqa: ANN001
    cred = current_credential(g)
    org = names.orgs.get(g.hospital_id)
    return GatewayOut(id=g.id, name=g.name, client_id=g.client_id, status=g.status, created_at=g.created_at,
                      hospital={"id": org.id, "ura": org.ura, "name": org.name},
                      credential_method=cred.method if cred else None).model_dump(mode="json")


GATEWAYS = register(ObjectType(
    key="gateways", model=Gateway, singular=_l("gateway"), plural=_l("Gateways"),
    read=Permission.ORGANISATIONS_READ, write=Permission.GATEWAYS_MANAGE,
    columns=[
        Column("name", _l("Name"), sort=Gateway.name, kind="link"),
        Column("hospital_id", _l("Hospital"), kind="org"),
        Column("client_id", _l("Client id"), sort=Gateway.client_id),
        Column("status", _l("Status"), sort=Gateway.status, kind="badge", enum="status"),
        Column("created_at", _l("Registered"), sort=Gateway.created_at, kind="moment"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(Gateway.hospital_id), options=hospital_options,
               kind="select"),
        Filter("status", _l("Status"), lambda s, v: s.where(Gateway.status == v),
               options=_options("status", GatewayStatus), kind="select"),
    ],
    search=lambda q: or_(Gateway.client_id == q, contains(Gateway.name, q)),
    default_sort="name", title=lambda g: g.name,
    public=GatewayOut, to_public=_public,
    fields=lambda g, names: [
        (_l("Hospital"), g.hospital_id, "org"), (_l("Client id"), g.client_id, "text"),
        (_l("Status"), ("status", g.status), "badge"), (_l("Registered"), g.created_at, "moment"),
        (_l("Suspended at"), g.suspended_at, "moment"), (_l("Revoked at"), g.revoked_at, "moment"),
        (_l("Credential"), ("method", current_credential(g).method) if current_credential(g) else None,
         "badge"),
    ],
    history_refs=lambda g: [("gateways", str(g.id))] + [("gateway_credentials", str(c.id))
                                                        for c in credentials(g)],
    create_endpoint="web.gateway_create",
))
