"""/api/v1/audit: signed checkpoints (public), verification, search, object history, export."""

from __future__ import annotations

from flask import Response, jsonify, request

from registry.api import blueprint
from registry.api.auth import current_actor, requires
from registry.audit.export import FILENAMES, entry_record
from registry.audit.sealer import start_background_sealer
from registry.audit.verify import public_keys
from registry.edge import db, error_body, registry
from registry.permissions import Permission
from registry.services import audit as service
from registry.validation import query_int


@blueprint.record_once
def _sealer(state) -> None:  # noqa: ANN001
    # Runs once, while create_app registers this blueprint: the process's background sealer
    # starts only when the settings ask for one (REGISTRY_AUDIT_SEAL_INTERVAL > 0).
    start_background_sealer(state.app)


def _int_arg(name: str, default: int) -> int:
    return query_int(request.args, name, default)


@blueprint.get("/audit/checkpoints")
def list_checkpoints():
    """Public on purpose: outsiders keep these to prove later that the log was not rewritten."""
    after, limit = _int_arg("after_seq", 0), _int_arg("limit", 1000)
    reg = registry()
    rows = service.list_checkpoints(db(), after_seq=after, limit=limit)
    keys = public_keys(db(), reg.signer)
    return jsonify({
        "checkpoints": [service.checkpoint_view(cp) for cp in rows],
        # Verify each JWS with the key named by its kid: from the JWKS, or the copies here.
        "jwks_uri": f"{reg.settings.issuer}/.well-known/jwks.json",
        "keys": [dict(key.as_dict(private=False), kid=kid) for kid, key in sorted(keys.items())],
    })


@blueprint.post("/audit/checkpoints")
@requires(service.CHECKPOINT_PERMISSION)
def create_checkpoint():
    reg = registry()
    session = db()
    cp = service.create_checkpoint(session, actor=current_actor(), clock=reg.clock, signer=reg.signer)
    session.commit()
    return jsonify(service.checkpoint_view(cp)), 201


@blueprint.post("/audit/verify")
@requires(Permission.AUDIT_READ)
def verify():
    """Seal what is pending, recompute the chain, check the checkpoints (plus any the caller
    kept, as ``{"checkpoints": ["<jws>", …]}``)."""
    body = request.get_json(silent=True) or {}
    kept = body.get("checkpoints", []) if isinstance(body, dict) else []
    if not isinstance(kept, list) or not all(isinstance(k, str) for k in kept):
        return error_body("INVALID_REQUEST", "checkpoints must be a list of compact JWSs", 400)
    reg = registry()
    session = db()
    report = service.verify_audit_trail(
        session, actor=current_actor(), clock=reg.clock, signer=reg.signer,
        checkpoint_every=reg.settings.audit_checkpoint_every,
        retention_days=reg.settings.audit_retention_days, kept_checkpoints=kept)
    session.commit()  # the sealing done on the way
    return jsonify(report.as_dict())


@blueprint.get("/audit/entries")
@requires(Permission.AUDIT_READ)
def entries():
    filters = service.filter_from_params(request.args)
    before = _int_arg("before_id", 0)
    rows = service.search_entries(db(), actor=current_actor(), clock=registry().clock,
                                  filters=filters, before_id=before or None,
                                  limit=_int_arg("limit", 100) or 100)
    db().commit()  # the read's audit entry
    return jsonify({"entries": [dict(entry_record(e), id=e.id) for e in rows],
                    "next_before_id": rows[-1].id if rows else None})


@blueprint.get("/audit/objects/<object_type>/<object_id>")
@requires(Permission.AUDIT_READ)
def history(object_type: str, object_id: str):
    rows = service.object_history(db(), actor=current_actor(), clock=registry().clock,
                                  object_type=object_type[:40], object_id=object_id[:64])
    db().commit()  # the read's audit entry
    return jsonify({"object": {"type": object_type, "id": object_id},
                    "entries": [entry_record(e) for e in rows]})


@blueprint.get("/audit/export")
@requires(Permission.AUDIT_EXPORT)
def export():
    reg = registry()
    session = db()
    media_type, body = service.export_entries(
        session, actor=current_actor(), clock=reg.clock, signer=reg.signer,
        filters=service.filter_from_params(request.args), fmt=request.args.get("format", "jsonl"),
        checkpoint_every=reg.settings.audit_checkpoint_every)
    session.commit()
    return Response(body, content_type=media_type, headers={
        "Content-Disposition": f"attachment; filename={FILENAMES[request.args.get('format', 'jsonl')]}"})
