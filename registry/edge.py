"""Per-request plumbing shared by the edges: the database session, request id, errors."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, current_app, g, jsonify, request
from sqlalchemy.exc import DataError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from sqlalchemy.orm import Session

from registry.actor import PermissionDenied
from registry.services.errors import ServiceError
from registry.validation import InvalidInput

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
        if isinstance(exc, DataError):
            log.warning("database refused a value: %s", type(orig or exc).__name__)
        else:
            log.error("database unavailable: %s", type(orig or exc).__name__)
        session = g.pop("db", None)
        if session is not None:
            try:
                session.rollback()
                session.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
        if isinstance(exc, DataError):
            # The database refused a value (SQLSTATE class 22: out of range, invalid text): bad
            # input that got past the edge's parsers, not an outage. A 400 that changes nothing.
            if _wants_json():
                return json_error("INVALID_REQUEST", "a value in the request cannot be stored", 400)
            return "Invalid input / Ongeldige invoer", 400
        if _wants_json():
            return json_error("REGISTRY_UNAVAILABLE", "the registry's database cannot be reached; "
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

    @app.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput):
        if "db" in g:
            db().rollback()
        if _wants_json():
            return json_error("INVALID_REQUEST", exc.detail, 400, exc.fields)
        return f"{exc.detail} / Ongeldige invoer", 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(OverflowError)
    def _overflow(exc: OverflowError):
        # Python's limits reached with a request's value: an integer SQLite cannot bind, a date
        # past the end of the calendar. The parsers stop these first; this is the backstop that
        # keeps one that slipped through a 400 rather than a 500 (and logs where it came from).
        log.warning("value out of range in %s %s", request.method, request.endpoint, exc_info=True)
        if "db" in g:
            db().rollback()
        if _wants_json():
            return json_error("INVALID_REQUEST", "a value in the request is out of range", 400)
        return "Invalid input / Ongeldige invoer", 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        # Every error under /api, /oauth and /.well-known is JSON, whatever raised it
        # (a 404 for a path nobody routes, a 405, a 413, a form the framework could not read).
        if not _wants_json() or exc.code is None:
            return exc
        return json_error(_HTTP_CODES.get(exc.code, "INVALID_REQUEST" if exc.code < 500 else
                                          "INTERNAL_ERROR"), exc.description or exc.name, exc.code)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # A real fault in the registry. Its text stays in the log; the caller gets a JSON 500
        # under the machine-facing paths (never Flask's HTML page), and the web a plain page.
        log.exception("unhandled error in %s %s", request.method, request.endpoint)
        session = g.pop("db", None)
        if session is not None:
            session.rollback()
            session.close()
        if _wants_json():
            return json_error("INTERNAL_ERROR", "an internal error; it has been logged", 500)
        return "Internal error / Interne fout", 500, {"Content-Type": "text/plain; charset=utf-8"}

    from registry import validation

    validation.register(app)


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "INVALID_REQUEST",
               415: "INVALID_REQUEST", 500: "INTERNAL_ERROR"}
# The same errors in RFC 6749 §5.2 words, for OAuth clients under /oauth.
_OAUTH_CODES = {"INVALID_REQUEST": "invalid_request", "NOT_FOUND": "invalid_request",
                "METHOD_NOT_ALLOWED": "invalid_request", "INTERNAL_ERROR": "server_error",
                "REGISTRY_UNAVAILABLE": "temporarily_unavailable"}


def json_error(code: str, detail: str, status: int, fields: dict | None = None):  # noqa: ANN201
    """An error in the shape its caller expects: RFC 6749 under /oauth, the API's elsewhere."""
    if request.path.startswith("/oauth/"):
        return jsonify({"error": _OAUTH_CODES.get(code, "invalid_request"),
                        "error_description": detail}), status
    return error_body(code, detail, status, fields)
