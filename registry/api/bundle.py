"""GET /api/v1/bundle: the calling gateway's signed offline bundle (scope bundle:read)."""

from __future__ import annotations

from flask import Response, request

from registry.api import blueprint
from registry.api.auth import current_actor, requires
from registry.api.oauth import published_signer
from registry.edge import db, registry
from registry.permissions import Permission
from registry.services.bundle import build_bundle


@blueprint.get("/bundle")
@requires(Permission.BUNDLE_READ)
def bundle():
    reg = registry()
    settings = reg.settings
    signed = build_bundle(db(), actor=current_actor(), clock=reg.clock, engine=reg.policy,
                          signer=published_signer(), issuer=settings.issuer, ttl=settings.bundle_ttl,
                          offline_allowance=settings.bundle_offline_allowance, zone=settings.zone)
    # private: one gateway's terms; no-cache: revalidate (If-None-Match) before each reuse.
    headers = {"Cache-Control": "private, no-cache"}
    if request.if_none_match.contains(signed.etag):
        response = Response(status=304, headers=headers)
    else:
        # RFC 7515 §9.2.1: application/jose is the media type of a compact JWS.
        response = Response(signed.jws, status=200, mimetype="application/jose", headers=headers)
    response.set_etag(signed.etag)
    return response
