"""OpenID Connect relying party: discovery, the authorization-code flow with PKCE, and the checks
on the id_token (OpenID Connect Core 1.0 §3.1.3.7).

The HTTP client is Authlib's (``requests_client.OAuth2Session``); the id_token is verified with
joserfc against the provider's published keys. Nothing here touches the database: the edge calls
these functions and hands the checked claims to ``registry.services.identity_providers``.
Codes, tokens and secrets are never logged or put in an error's text.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token, is_secure_transport
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# Seconds to wait for the provider; a sign-in that hangs helps nobody.
HTTP_TIMEOUT = 5
# Clock skew tolerated between the provider and the registry (exp, iat, nbf).
LEEWAY_SECONDS = 60
# Asymmetric signatures only. "none" is never acceptable, and HS256 (keyed with the client secret,
# allowed by the specification) would let anyone who knows the secret mint tokens.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")
DEFAULT_SCOPE = "openid email profile"


class OidcError(Exception):
    """The sign-in cannot go on. ``code`` is machine-readable; the text never carries a token."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_endpoint_auth_method: str


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        # No redirects: the document must come from the URL the admin registered.
        response = requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False,
                                headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise OidcError("PROVIDER_UNREACHABLE", f"{what} could not be fetched ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise OidcError("PROVIDER_UNREACHABLE", f"{what} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError as exc:
        raise OidcError("PROVIDER_INVALID", f"{what} is not JSON") from exc
    if not isinstance(document, dict):
        raise OidcError("PROVIDER_INVALID", f"{what} is not a JSON object")
    return document


def discover(issuer: str) -> ProviderMetadata:
    """Read ``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 §4)."""
    document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
    # Discovery §4.3: the issuer in the document must be exactly the one we asked, or an attacker
    # who controls one provider's document could speak for another.
    if document.get("issuer") != issuer:
        raise OidcError("PROVIDER_INVALID", "the discovery document names another issuer")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        url = document.get(name)
        if not isinstance(url, str) or not is_secure_transport(url):
            raise OidcError("PROVIDER_INVALID", f"{name} is missing or not HTTPS")
        endpoints[name] = url
    supported = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    # client_secret_basic is the specification's default; _post only when that is all it offers.
    method = "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"
    if method not in supported:
        raise OidcError("PROVIDER_INVALID", "the provider accepts neither client_secret_basic nor _post")
    return ProviderMetadata(issuer=issuer, token_endpoint_auth_method=method, **endpoints)


def new_login_state() -> dict[str, str]:
    """The per-attempt values kept in the browser session: state (CSRF on the callback), nonce
    (binds the id_token to this attempt) and the PKCE code verifier (RFC 7636; 64 characters)."""
    return {"state": generate_token(43), "nonce": generate_token(43), "code_verifier": generate_token(64)}


def authorization_url(metadata: ProviderMetadata, *, client_id: str, redirect_uri: str,
                      login_state: dict[str, str], scope: str = DEFAULT_SCOPE) -> str:
    client = OAuth2Session(client_id, scope=scope, redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    url, _ = client.create_authorization_url(
        metadata.authorization_endpoint, state=login_state["state"], nonce=login_state["nonce"],
        code_verifier=login_state["code_verifier"])
    return url


def exchange_code(metadata: ProviderMetadata, *, client_id: str, client_secret: str,
                  redirect_uri: str, code: str, code_verifier: str) -> str:
    """Trade the authorization code for tokens at the token endpoint; return the id_token."""
    client = OAuth2Session(client_id, client_secret, redirect_uri=redirect_uri,
                           token_endpoint_auth_method=metadata.token_endpoint_auth_method,
                           code_challenge_method="S256", default_timeout=HTTP_TIMEOUT)
    try:
        with client:
            token = client.fetch_token(metadata.token_endpoint, grant_type="authorization_code",
                                       code=code, code_verifier=code_verifier, allow_redirects=False)
    except (AuthlibBaseError, requests.RequestException, ValueError) as exc:
        # The type only: the provider's error text could echo what we sent.
        raise OidcError("TOKEN_EXCHANGE_FAILED", f"the token endpoint refused ({type(exc).__name__})") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcError("TOKEN_EXCHANGE_FAILED", "the token response carries no id_token")
    return id_token


def fetch_keys(metadata: ProviderMetadata) -> KeySet:
    document = _get_json(metadata.jwks_uri, "the provider's JWKS")
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcError("PROVIDER_INVALID", "the provider's JWKS cannot be read") from exc


def validate_id_token(id_token: str, *, keys: KeySet, issuer: str, client_id: str, nonce: str,
                      now: int) -> dict[str, Any]:
    """The claims of ``id_token`` once signature, issuer, audience, nonce and times hold.

    ``now`` is the registry's clock (seconds since the epoch), so that tests and the time-travel
    views move it like every other date.
    """
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
    except JoseError as exc:
        raise OidcError("ID_TOKEN_INVALID", f"signature or format ({type(exc).__name__})") from exc
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        claim = getattr(exc, "claim", "") or ""
        raise OidcError("ID_TOKEN_INVALID", f"claim {claim or type(exc).__name__} rejected") from exc
    # Core §3.1.3.7 (4, 5): with several audiences the token must name us as authorised party.
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise OidcError("ID_TOKEN_INVALID", "claim azp rejected")
    presented = claims.get("nonce")
    if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), nonce.encode()):
        raise OidcError("ID_TOKEN_INVALID", "claim nonce rejected")
    return dict(claims)
