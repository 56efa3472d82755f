"""Helpers for the OAuth, admin and bundle tests: gateways with keys, client assertions, staff tokens."""

from __future__ import annotations

import base64
import uuid
import warnings
from datetime import timedelta

from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import select

from registry.auth.server import ASSERTION_TYPE
from registry.auth.tokens import issue_user_token
from registry.db.users import User
from registry.services import gateways
from tests.factories import SYSTEM

TOKEN_URL = "http://127.0.0.1:5000/oauth/token"  # Settings().issuer + /oauth/token


def new_key(alg: str):  # noqa: ANN201
    return ECKey.generate_key("P-256") if alg == "ES256" else OKPKey.generate_key("Ed25519")


def public_jwk(key) -> dict:  # noqa: ANN001
    return key.as_dict(private=False)


def keyed_gateway(session, clock, hospital, alg: str = "Ed25519", name: str | None = None):  # noqa: ANN001, ANN201
    """A gateway of ``hospital`` registered with a fresh public key; returns (gateway, private key)."""
    key = new_key(alg)
    gateway, secret = gateways.register_gateway(session, actor=SYSTEM, clock=clock,
                                                hospital_id=hospital.id,
                                                name=name or f"keyed-{uuid.uuid4().hex[:6]}",
                                                public_jwk=public_jwk(key))
    assert secret is None
    session.commit()
    return gateway, key


def secret_gateway(session, clock, hospital):  # noqa: ANN001, ANN201
    gateway, secret = gateways.register_gateway(session, actor=SYSTEM, clock=clock,
                                                hospital_id=hospital.id,
                                                name=f"basic-{uuid.uuid4().hex[:6]}")
    session.commit()
    return gateway, secret


def assertion(client_id: str, key, clock, alg: str = "Ed25519", **overrides) -> str:  # noqa: ANN001
    now = int(clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # signing with the deprecated "EdDSA"
        return jwt.encode({"alg": alg}, claims, key, algorithms=[alg])


def jwt_form(value: str, **extra: str) -> dict:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": value}
    form.update(extra)
    return form


def basic(client_id: str, secret: str) -> dict:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def staff_bearer(session, clock, email: str) -> dict:  # noqa: ANN001
    """A bearer token of a demo user (admin@, auditor@, inkoop@ … demo.aifi.nl)."""
    user = session.scalar(select(User).where(User.email == email))
    issued = issue_user_token(session, clock=clock, user=user, ttl=600)
    session.commit()
    return {"Authorization": f"Bearer {issued.access_token}"}


def later(clock, **delta) -> int:  # noqa: ANN001
    return int((clock.now() + timedelta(**delta)).timestamp())
