"""Error pages in the user's language: what went wrong, what role would be needed, a way back.

Under ``/api``, ``/oauth`` and ``/.well-known`` errors stay JSON (``registry.edge``)."""

from __future__ import annotations

import logging

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException

from registry.permissions import ROLE_PERMISSIONS

log = logging.getLogger("registry")


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/oauth/", "/.well-known/"))


def roles_holding(permissions) -> list[str]:  # noqa: ANN001
    return sorted(role for role, held in ROLE_PERMISSIONS.items() if any(p in held for p in permissions))


def register_error_pages(app: Flask) -> None:
    def page(status: int):  # noqa: ANN202
        if "web_actor" not in g:
            from registry.web.views import web_actor

            g.web_actor = web_actor()  # a page nobody routed to still shows who is logged in
        needed = g.get("needed_permissions") or ()
        return render_template("errors/error.html", status=status, roles=roles_holding(needed)), status

    for status in (400, 403, 404, 405, 500):
        def handler(exc, status=status):  # noqa: ANN001, ANN202
            if _wants_json():
                from registry.edge import json_error

                code = {400: "INVALID_REQUEST", 403: "FORBIDDEN", 404: "NOT_FOUND",
                        405: "METHOD_NOT_ALLOWED", 500: "INTERNAL_ERROR"}[status]
                return json_error(code, getattr(exc, "description", None) or code.lower(), status)
            if status == 500:
                log.error("unhandled error on %s: %s", request.endpoint, type(exc).__name__)
            return page(status)
        app.register_error_handler(status, handler)

    from registry.actor import PermissionDenied
    from registry.edge import db, error_body
    from registry.services.errors import NotFound, ServiceError

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):  # noqa: ANN202
        db().rollback()
        if _wants_json():
            return error_body(exc.code, exc.detail, exc.status, exc.fields)
        return page(404 if isinstance(exc, NotFound) else 400)

    @app.errorhandler(PermissionDenied)
    def _forbidden(exc: PermissionDenied):  # noqa: ANN202
        db().rollback()
        if _wants_json():
            return error_body("FORBIDDEN", f"this requires the permission {exc.permission}", 403)
        g.needed_permissions = (exc.permission,)
        return page(403)

    @app.errorhandler(HTTPException)
    def _other(exc: HTTPException):  # noqa: ANN202
        if _wants_json():
            from registry.edge import json_error

            return json_error("INVALID_REQUEST" if exc.code < 500 else "INTERNAL_ERROR",
                              exc.description or exc.name, exc.code)
        if exc.code is None or exc.code < 400:
            return exc
        return page(exc.code)

    unexpected = app.error_handler_spec[None][None].get(Exception)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        # The edge logs the fault and answers JSON under the machine paths; people get the page.
        answer = unexpected(exc)
        if _wants_json():
            return answer
        return page(500)
