"""Gateways: register, rotate credentials, suspend, revoke. Each a ChangeRecord."""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.auth.secrets import CLIENT_SECRET_PREFIX, hash_secret, new_secret
from registry.clock import Clock
from registry.db.oauth import AccessToken
from registry.db.organisations import Gateway, GatewayCredential, Organisation
from registry.permissions import Permission
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ValidationFailed


def _jwk_thumbprint(jwk: dict) -> str:
    from joserfc.jwk import JWKRegistry

    key = JWKRegistry.import_key(jwk)
    if key.is_private:
        raise ValidationFailed("register the public key only", {"jwk": "contains a private key"})
    return key.thumbprint()


def add_credential(session: Session, *, actor: Actor, clock: Clock, gateway: Gateway,
                   public_jwk: dict | None) -> str | None:
    """Add a credential (a public JWK, or a generated secret returned once) and revoke older ones."""
    now = clock.now()
    for old in session.scalars(select(GatewayCredential).where(
            GatewayCredential.gateway_id == gateway.id, GatewayCredential.revoked_at.is_(None))):
        update_row(session, actor=actor, clock=clock, permission=Permission.GATEWAYS_MANAGE, row=old,
                   changes={"revoked_at": now}, action="revoke", message="credential rotated")
    secret = None
    if public_jwk is not None:
        try:
            thumbprint = _jwk_thumbprint(public_jwk)
        except ValidationFailed:
            raise
        except Exception as exc:  # joserfc raises several types for malformed keys
            raise ValidationFailed("invalid public key", {"jwk": str(exc)}) from exc
        if public_jwk.get("kty") not in ("OKP", "EC") or public_jwk.get("crv") not in ("Ed25519", "P-256"):
            raise ValidationFailed("unsupported key", {"jwk": "use an Ed25519 (OKP) or P-256 (EC) key"})
        cred = GatewayCredential(gateway_id=gateway.id, method="private_key_jwt",
                                 public_jwk=json.dumps(public_jwk, sort_keys=True),
                                 key_thumbprint=thumbprint, created_at=now)
    else:
        secret = new_secret(CLIENT_SECRET_PREFIX)
        cred = GatewayCredential(gateway_id=gateway.id, method="client_secret_basic",
                                 secret_hash=hash_secret(secret), created_at=now)
    create_row(session, actor=actor, clock=clock, permission=Permission.GATEWAYS_MANAGE, row=cred)
    return secret


def register_gateway(session: Session, *, actor: Actor, clock: Clock, name: str,
                     hospital_id: int | None = None, hospital_ura: str | None = None,
                     public_jwk: dict | None = None,
                     client_id: str | None = None) -> tuple[Gateway, str | None]:
    """Register a gateway of a hospital (by id or URA). Returns it and, without a public key, its
    secret (once: only its hash is stored)."""
    actor.require(Permission.GATEWAYS_MANAGE)
    if hospital_ura is not None:
        hospital = session.scalar(select(Organisation).where(Organisation.ura == hospital_ura))
    else:
        hospital = session.get(Organisation, hospital_id) if hospital_id is not None else None
    if hospital is None or hospital.kind != "hospital":
        raise ValidationFailed("invalid gateway", {"hospital": "must be a hospital"})
    if hospital.status != "active":
        raise ValidationFailed("invalid gateway", {"hospital": f"hospital is {hospital.status}"})
    gateway = Gateway(hospital_id=hospital.id, name=name,
                      client_id=client_id or "gw_" + secrets.token_hex(8))
    create_row(session, actor=actor, clock=clock, permission=Permission.GATEWAYS_MANAGE, row=gateway)
    secret = add_credential(session, actor=actor, clock=clock, gateway=gateway, public_jwk=public_jwk)
    return gateway, secret


def get_gateway_by_client_id(session: Session, client_id: str) -> Gateway:
    gateway = session.scalar(select(Gateway).where(Gateway.client_id == client_id))
    if gateway is None:
        raise NotFound(f"no gateway {client_id}")
    return gateway


def set_gateway_status(session: Session, *, actor: Actor, clock: Clock, client_id: str,
                       status: str, reason: str = "") -> Gateway:
    """Suspend, reactivate or revoke. Suspension and revocation end live tokens at once."""
    actor.require(Permission.GATEWAYS_MANAGE)  # first: an unauthorised caller learns nothing
    gateway = get_gateway_by_client_id(session, client_id)
    if status not in ("active", "suspended", "revoked"):
        raise ValidationFailed("invalid status", {"status": "active, suspended or revoked"})
    if gateway.status == "revoked":
        raise ValidationFailed("a revoked gateway stays revoked; register a new one")
    now = clock.now()
    changes = {"status": status}
    if status == "revoked":
        changes["revoked_at"] = now
    elif status == "suspended":
        changes["suspended_at"] = now
    update_row(session, actor=actor, clock=clock, permission=Permission.GATEWAYS_MANAGE, row=gateway,
               changes=changes, action={"active": "reactivate", "suspended": "suspend",
                                        "revoked": "revoke"}[status], message=reason)
    if status != "active":
        revoke_gateway_tokens(session, gateway_id=gateway.id, at=now)
    return gateway


def revoke_gateway_tokens(session: Session, *, gateway_id: int, at: datetime) -> int:
    """End every live access token of a gateway (suspended, revoked, or its credential replaced:
    a token must not outlive the credential it was issued against)."""
    return session.execute(update(AccessToken).where(AccessToken.gateway_id == gateway_id,
                                                     AccessToken.revoked_at.is_(None))
                           .values(revoked_at=at)).rowcount


def rotate_credential(session: Session, *, actor: Actor, clock: Clock, client_id: str,
                      public_jwk: dict | None = None) -> tuple[Gateway, str | None]:
    """Replace the gateway's credential: a new public key, or (without one) a new secret returned
    once. The old credential is revoked in the same transaction, so there is no moment with two,
    and so are the tokens issued against it: whoever held the old credential keeps nothing."""
    actor.require(Permission.GATEWAYS_MANAGE)
    gateway = get_gateway_by_client_id(session, client_id)
    if gateway.status == "revoked":
        raise ValidationFailed("a revoked gateway gets no new credentials; register a new one")
    secret = add_credential(session, actor=actor, clock=clock, gateway=gateway, public_jwk=public_jwk)
    revoke_gateway_tokens(session, gateway_id=gateway.id, at=clock.now())
    return gateway, secret
