"""OAuth2 endpoints for gateways (/oauth/*) and the registry's public metadata (/.well-known/*).

Errors here are RFC 6749 §5.2 bodies (``{"error": ..., "error_description": ...}``), not the API's
``{"error": {"code": ...}}``: OAuth client libraries expect the standard shape.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from registry.api.auth import current_actor, requires
from registry.auth.jwks import published_jwks, record_key
from registry.auth.server import build_server, metadata
from registry.auth.tokens import introspect_token
from registry.edge import db, registry, request_id
from registry.permissions import Permission

blueprint = Blueprint("oauth", __name__)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def published_signer():  # noqa: ANN201
    """The app's signing key, recorded in signing_keys (once per app, in the request's session)
    before anything it signs goes out, so that every instance's JWKS can list it."""
    reg = registry()
    key = reg.signer
    recorded = current_app.extensions.setdefault("registry.recorded_kids", set())
    if key.kid not in recorded:
        # A commit of its own, once per key and process. Every caller asks for the signer either
        # before its own work (bundle, JWKS: reads only so far) or after its own commit
        # (decisions), so this never commits half of a request's changes.
        record_key(db(), clock=reg.clock, key=key)
        db().commit()
        recorded.add(key.kid)
    return key


def _server():  # noqa: ANN202
    reg = registry()
    return build_server(db(), clock=reg.clock, issuer=reg.settings.issuer,
                        token_ttl=reg.settings.access_token_ttl, request_id=request_id(),
                        network_access_point=request.remote_addr or "")


@blueprint.post("/oauth/token")
def token():
    """Client-credentials grant; client auth by private_key_jwt or client_secret_basic."""
    response = _server().create_token_response()
    # Commit whatever the outcome: a consumed assertion jti must stay consumed even when the
    # request then fails (say, on scope), or the same assertion could be replayed with another.
    db().commit()
    return response


@blueprint.post("/oauth/revoke")
def revoke():
    """RFC 7009: the authenticated gateway revokes one of its own tokens; 200 even if unknown."""
    response = _server().create_endpoint_response("revocation")
    db().commit()
    return response


@blueprint.post("/oauth/introspect")
@requires(Permission.TOKENS_INTROSPECT)
def introspect():
    """RFC 7662, for staff: a bearer token of a user holding tokens:introspect."""
    value = request.form.get("token", "")
    if not value:
        return jsonify({"error": "invalid_request", "error_description": "token is required"}), 400
    reg = registry()
    body = introspect_token(db(), actor=current_actor(), clock=reg.clock, token=value)
    return jsonify(body), 200, _NO_STORE


@blueprint.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata():
    return jsonify(metadata(registry().settings.issuer))


@blueprint.get("/.well-known/jwks.json")
def jwks():
    """The registry's public keys: current and retired-but-still-published (bundles, decisions)."""
    published_signer()  # a fresh instance publishes its own key before it answers
    body = published_jwks(db(), clock=registry().clock)
    return jsonify(body), 200, {"Cache-Control": "public, max-age=300"}
