"""Admin API for gateways (permission gateways:manage, staff bearer tokens): register, rotate the
credential, suspend, reactivate, revoke. Each change writes its ChangeRecord in the services."""

from __future__ import annotations

from typing import Annotated, Any

from flask import jsonify
from pydantic import Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.edge import db, registry
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.services import gateways as service

# A public JWK has a handful of short members; anything bigger is not one.
Jwk = Annotated[dict[str, Any], Field(max_length=12)]


class GatewayIn(_Strict):
    hospital_ura: Annotated[str, Field(pattern=r"^[0-9]{8}$")]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    public_jwk: Jwk | None = None


class RotateIn(_Strict):
    public_jwk: Jwk | None = None


class StatusIn(_Strict):
    reason: Annotated[str, Field(max_length=500)] = ""


def _view(gateway, secret: str | None, public_jwk: dict | None) -> dict[str, Any]:  # noqa: ANN001
    out = {"client_id": gateway.client_id, "name": gateway.name, "status": gateway.status,
           "token_endpoint_auth_method": "private_key_jwt" if public_jwk else "client_secret_basic"}
    if secret:
        out["client_secret"] = secret  # shown once; only its hash is stored
    return out


@blueprint.post("/gateways")
@requires(Permission.GATEWAYS_MANAGE)
def register():
    body = parse_body(GatewayIn)
    session = db()
    gateway, secret = service.register_gateway(session, actor=current_actor(), clock=registry().clock,
                                               hospital_ura=body.hospital_ura, name=body.name,
                                               public_jwk=body.public_jwk)
    session.commit()
    out = _view(gateway, secret, body.public_jwk)
    out["hospital_ura"] = body.hospital_ura
    return jsonify(out), 201, {"Cache-Control": "no-store"}


@blueprint.post("/gateways/<client_id>/rotate")
@requires(Permission.GATEWAYS_MANAGE)
def rotate(client_id: str):
    body = parse_body(RotateIn)
    session = db()
    gateway, secret = service.rotate_credential(session, actor=current_actor(), clock=registry().clock,
                                                client_id=client_id[:64], public_jwk=body.public_jwk)
    session.commit()
    return jsonify(_view(gateway, secret, body.public_jwk)), 200, {"Cache-Control": "no-store"}


def _set_status(client_id: str, status: str):  # noqa: ANN202
    body = parse_body(StatusIn)
    session = db()
    gateway = service.set_gateway_status(session, actor=current_actor(), clock=registry().clock,
                                         client_id=client_id[:64], status=status, reason=body.reason)
    session.commit()
    return jsonify({"client_id": gateway.client_id, "status": gateway.status})


@blueprint.post("/gateways/<client_id>/suspend")
@requires(Permission.GATEWAYS_MANAGE)
def suspend(client_id: str):
    return _set_status(client_id, "suspended")


@blueprint.post("/gateways/<client_id>/reactivate")
@requires(Permission.GATEWAYS_MANAGE)
def reactivate(client_id: str):
    return _set_status(client_id, "active")


@blueprint.post("/gateways/<client_id>/revoke")
@requires(Permission.GATEWAYS_MANAGE)
def revoke(client_id: str):
    return _set_status(client_id, "revoked")
