"""Bearer authentication and the permission every API route declares."""

from __future__ import annotations

import functools
from typing import Callable

from flask import g, request
from pydantic import BaseModel, ValidationError

from registry.actor import Actor
from registry.auth.tokens import actor_for_token, touch_token
from registry.db.base import READS_FIRST
from registry.edge import db, error_body, log_refusal, registry, request_id
from registry.permissions import Permission


def current_actor() -> Actor:
    return g.actor


def requires(*permissions: Permission, reads_first: bool = False) -> Callable:
    """Declare the permission(s) a route needs (any one of them will do; the service checks the
    exact one): 401 without a valid token, 403 without any of the permissions.

    ``reads_first``: the request's transaction begins as a read (on SQLite without the write
    lock, so that other workers' decisions go on meanwhile); the route's service promises to
    commit before its first write (``registry.db.base.reads_first``)."""
    if not permissions or not all(isinstance(p, Permission) for p in permissions):
        raise ValueError(f"unknown permission in {permissions!r}")

    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def inner(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if reads_first:
                db().connection(execution_options=READS_FIRST)
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            actor = None
            if scheme.lower() == "bearer" and token:
                actor = actor_for_token(db(), clock=registry().clock, token=token.strip(),
                                        request_id=request_id(),
                                        network_access_point=request.remote_addr or "")
            if actor is None:
                log_refusal(None, 401)  # NEN 7513: failed attempts are logged too
                response = error_body("UNAUTHENTICATED", "a valid bearer token is required", 401)
                response[0].headers["WWW-Authenticate"] = 'Bearer realm="aifi-registry"'
                return response
            if not any(actor.can(p) for p in permissions):
                log_refusal(actor, 403, required=permissions)
                return error_body("FORBIDDEN", "this requires the permission "
                                  + " or ".join(permissions), 403)
            g.actor = actor
            if actor.kind == "user":
                if reads_first:
                    db().commit()  # end the read: what follows writes
                if touch_token(db(), clock=registry().clock, token=token.strip()):
                    db().commit()  # only the last-used time: nothing else has happened yet
            return view(*args, **kwargs)

        inner.required_permissions = permissions  # type: ignore[attr-defined]
        return inner

    return wrap


class BadRequest(Exception):
    def __init__(self, detail: str, fields: dict[str, str]):
        super().__init__(detail)
        self.detail, self.fields = detail, fields


def _fields(exc: ValidationError, whole: str) -> dict[str, str]:
    return {".".join(str(p) for p in err["loc"]) or whole: err["msg"] for err in exc.errors()}


def parse_query(model: type[BaseModel]) -> BaseModel:
    """Parse the query string with the model the OpenAPI document describes it by, so that what
    the document promises to refuse is refused (400), never silently cut or ignored."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise BadRequest("invalid query", _fields(exc, "query")) from None


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Parse the JSON body strictly (size already bounded by MAX_CONTENT_LENGTH)."""
    raw = request.get_data(cache=False)
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        raise BadRequest("the request does not match the schema", _fields(exc, "body")) from None
