"""Per-request plumbing shared by the edges: the database session, request id, errors."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.actor import PermissionDenied
from registry.services.errors import ServiceError

log = logging.getLogger("registry")


def registry():  # noqa: ANN201
    return current_app.extensions["registry"]


def db() -> Session:
    """The request's session, opened on first use; the edge commits once, teardown closes."""
    if "db" not in g:
        g.db = registry().sessions()
    return g.db


def request_id() -> str:
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else str(uuid.uuid4())
    return g.request_id


def log_refusal(actor, status: int, *, required: tuple = ()) -> None:  # noqa: ANN001
    """Record a refused request (401: no valid login or token; 403: not permitted) in the audit
    trail, committed at once (the refusal ends the request; nothing else is pending)."""
    from registry.audit import access

    who = actor or access.anonymous(request_id=request_id(),
                                    network_access_point=request.remote_addr or "")
    session = db()
    session.rollback()
    access.log_access(session, actor=who, at=registry().clock.now(), event_type=access.REFUSED,
                      outcome="denied", object_type="route", object_id=request.endpoint or "",
                      detail={"status": status, "method": request.method, "path": request.path,
                              "required": [str(p) for p in required]})
    session.commit()


def error_body(code: str, detail: str, status: int, fields: dict | None = None):  # noqa: ANN201
    body = {"error": {"code": code, "detail": detail}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/oauth/", "/.well-known/"))


def register_edge(app: Flask) -> None:
    @app.teardown_request
    def _close(exc):  # noqa: ANN001
        session = g.pop("db", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    @app.after_request
    def _headers(response):  # noqa: ANN001
        response.headers["X-Request-ID"] = request_id()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not _wants_json():
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.errorhandler(SQLAlchemyError)
    def _db_down(exc):  # noqa: ANN001
        # Fail closed: no database (or no connection from the pool), no answer. Never a permit.
        # Log the error's type only: its text can carry SQL parameters.
        orig = getattr(exc, "orig", None)
        log.error("database unavailable: %s", type(orig or exc).__name__)
        session = g.pop("db", None)
        if session is not None:
            try:
                session.rollback()
                session.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
        if _wants_json():
            return error_body("REGISTRY_UNAVAILABLE", "the registry's database cannot be reached; "
                              "do not route (fail closed) and retry later", 503)
        return "Registry unavailable / Register niet bereikbaar", 503

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        db().rollback()
        return error_body(exc.code, exc.detail, exc.status, exc.fields)

    @app.errorhandler(PermissionDenied)
    def _forbidden(exc: PermissionDenied):
        db().rollback()
        return error_body("FORBIDDEN", f"this requires the permission {exc.permission}", 403)

    @app.errorhandler(413)
    def _too_large(_exc):  # noqa: ANN001
        return error_body("INVALID_REQUEST", "request body too large", 413)

    @app.errorhandler(404)
    def _not_found(exc):  # noqa: ANN001
        if _wants_json():
            return error_body("NOT_FOUND", "no such resource", 404)
        return exc

    @app.errorhandler(405)
    def _method(exc):  # noqa: ANN001
        if _wants_json():
            return error_body("METHOD_NOT_ALLOWED", "method not allowed", 405)
        return exc
