"""The OpenAPI 3.1 document of the registry's HTTP API, generated from the running app.

Every route under ``/api``, ``/oauth`` and ``/.well-known`` is described by the pydantic models it
parses and answers with: routes declare them with :func:`document` (or, for the gateway routes
that predate the workspace, in :data:`LEGACY` below, next to the same models they parse). The
paths, parameters and security come from Flask's URL map and the permissions each route declares,
so the document cannot drift from the code; a test fails on any API route left undescribed.

Why not spectree or flask-openapi3: both want to own request parsing and the app class; the
registry already parses strictly with pydantic (``parse_body``) and declares permissions per
route, and pydantic's JSON Schema is OpenAPI 3.1's dialect — what remains is this small walk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask
from pydantic import BaseModel

OPENAPI_VERSION = "3.1.0"
_CONVERTER_SCHEMAS = {"int": {"type": "integer", "minimum": 0}, "string": {"type": "string"},
                      "default": {"type": "string"}, "path": {"type": "string"}}


@dataclass(frozen=True)
class Doc:
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    body_type: str = "application/json"
    response: type[BaseModel] | None = None
    response_type: str | tuple[str, ...] = "application/json"  # several: chosen by a parameter
    query: type[BaseModel] | None = None
    list_of: bool = False  # the response is {"items": [response], "total", "page", "per_page"}
    statuses: dict[int, str] = field(default_factory=dict)
    ok_status: int = 200  # 201 where the route creates something
    # "oauth": RFC 6749 §5.2 error bodies ({"error": "invalid_client", "error_description"}) for
    # 400 and a failed client authentication (401); a bearer check in front still answers 401/403
    # in the API's own shape.
    errors: str = "api"


def document(summary: str, tag: str, **kw: Any) -> Callable:
    """Describe an API route (put it *under* the route decorator, above ``requires``)."""
    doc = Doc(summary, tag, **kw)

    def wrap(view: Callable) -> Callable:
        view.openapi = doc  # type: ignore[attr-defined]
        return view
    return wrap


def _legacy() -> dict[str, Doc]:
    from registry.schemas import DecisionIn, EvaluateIn

    from registry.api.gateways import GatewayIn, RotateIn, StatusIn
    from registry.api.schemas import (AuditExportQuery, DecisionAnswer, OAuthTokenForm,
                                      OAuthTokenAnswer, RevokeForm, UsageBatch)
    from registry.services.audit import EXPORT_FORMATS

    return {
        "api.decide": Doc("Ask whether a study may be routed to an AI tool", "Gateways", body=DecisionIn,
                          response=DecisionAnswer),
        "api.evaluate": Doc("Evaluate the terms for a day without reserving anything", "Gateways",
                            body=EvaluateIn, response=DecisionAnswer),
        "api.show": Doc("One stored decision with its facts and rules", "Decisions"),
        "api.bundle": Doc("The gateway's signed offline bundle (JWS)", "Gateways",
                          response_type="application/jose",  # RFC 7515 §9.2.1
                          statuses={304: "Not modified (If-None-Match)"}),
        "api.report": Doc("Report what was done with permits (exactly once per event id)", "Gateways",
                                body=UsageBatch),
        "api.reconciliation": Doc("Usage against permits per licence and period", "Usage"),
        "api.register": Doc("Register a gateway (its secret is shown once)", "Gateways admin",
                                    body=GatewayIn, ok_status=201),
        "api.rotate": Doc("Rotate a gateway's credential", "Gateways admin", body=RotateIn),
        "api.suspend": Doc("Suspend a gateway", "Gateways admin", body=StatusIn),
        "api.reactivate": Doc("Reactivate a gateway", "Gateways admin", body=StatusIn),
        "api.revoke": Doc("Revoke a gateway for good", "Gateways admin", body=StatusIn),
        "api.list_checkpoints": Doc("Signed audit checkpoints (public)", "Audit"),
        "api.create_checkpoint": Doc("Sign an audit checkpoint now", "Audit", ok_status=201),
        "api.verify": Doc("Verify the audit trail's hash chain and checkpoints", "Audit"),
        "api.entries": Doc("Search the audit trail", "Audit"),
        "api.history": Doc("Everything the audit trail holds about one object", "Audit"),
        "api.export": Doc("Export the audit trail (CSV, JSON lines, FHIR AuditEvent)", "Audit",
                          query=AuditExportQuery, response_type=tuple(EXPORT_FORMATS.values())),
        "oauth.token": Doc("OAuth 2.0 token endpoint (client credentials, RFC 6749 §4.4; "
                           "client_secret_basic or private_key_jwt)", "OAuth", body=OAuthTokenForm,
                           body_type="application/x-www-form-urlencoded", response=OAuthTokenAnswer,
                           errors="oauth"),
        "oauth.revoke": Doc("Revoke a token (RFC 7009)", "OAuth", body=RevokeForm,
                            body_type="application/x-www-form-urlencoded", errors="oauth"),
        "oauth.introspect": Doc("Introspect a token (RFC 7662)", "OAuth", body=RevokeForm,
                                body_type="application/x-www-form-urlencoded", errors="oauth"),
        "oauth.authorization_server_metadata": Doc("Authorization server metadata (RFC 8414)", "OAuth"),
        "oauth.jwks": Doc("The registry's public signing keys (JWKS)", "OAuth"),
    }


def _doc_for(app: Flask, endpoint: str, legacy: dict[str, Doc]) -> Doc | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "openapi", None) or legacy.get(endpoint)


def api_rules(app: Flask):  # noqa: ANN201
    """The URL rules the document must describe."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/oauth/", "/.well-known/")) and not rule.endpoint.startswith(
                "api_docs."):
            yield rule


def build_document(app: Flask, server_url: str) -> dict[str, Any]:
    legacy = _legacy()
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(api_rules(app), key=lambda r: r.rule):
        doc = _doc_for(app, rule.endpoint, legacy)
        if doc is None:
            continue  # the completeness test names it
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", r"{\2}", rule.rule)
        params = []
        for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
            params.append({"name": name, "in": "path", "required": True,
                           "schema": _CONVERTER_SCHEMAS.get(converter or "default", {"type": "string"})})
        if doc.query is not None:
            for name, info in doc.query.model_fields.items():
                name = info.alias or name  # "from" is a Python keyword
                schema = doc.query.model_json_schema()["properties"][name]
                params.append({"name": name, "in": "query", "required": info.is_required(),
                               "schema": schema, **({"description": info.description} if info.description else {})})
        view = app.view_functions[rule.endpoint]
        needed = tuple(str(p) for p in getattr(view, "required_permissions", ()) or ())
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {"summary": doc.summary, "tags": [doc.tag],
                                  "operationId": rule.endpoint.replace(".", "_") + "_" + method.lower()}
            if params:
                op["parameters"] = params
            if doc.body is not None and method in ("POST", "PATCH", "PUT"):
                op["requestBody"] = {"required": True, "content": {doc.body_type: {"schema": ref(doc.body)}}}
            ok: dict[str, Any] = {"description": "OK"}
            if doc.response is not None:
                schema = ref(doc.response)
                if doc.list_of:
                    schema = {"type": "object", "required": ["items", "total", "page", "per_page"],
                              "properties": {"items": {"type": "array", "items": schema},
                                             "total": {"type": "integer"}, "page": {"type": "integer"},
                                             "per_page": {"type": "integer"}}}
                # Several media types (chosen by a parameter): the model describes the first (JSON),
                # the others are text renderings of it (CSV).
                types = doc.response_type if isinstance(doc.response_type, tuple) else (doc.response_type,)
                ok["content"] = {types[0]: {"schema": schema},
                                 **{media: {"schema": {"type": "string"}} for media in types[1:]}}
            elif isinstance(doc.response_type, tuple):
                ok["content"] = {media_type: {"schema": {}} for media_type in doc.response_type}
            elif doc.response_type != "application/json":
                # A JSON dialect (application/fhir+json) is an object; anything else is text.
                json_like = doc.response_type.endswith("+json")
                ok["content"] = {doc.response_type: {"schema": {"type": "object" if json_like else "string"}}}
            else:
                ok["content"] = {"application/json": {"schema": {"type": "object"}}}
            error = {"$ref": "#/components/responses/" + ("OAuthError" if doc.errors == "oauth" else "Error")}
            responses: dict[str, Any] = {str(doc.ok_status): ok, "400": error}
            if needed:
                op["security"] = [{"bearer": []}]
                op["x-required-permissions"] = list(needed)
                responses["401"] = {"$ref": "#/components/responses/Error"}
                responses["403"] = {"$ref": "#/components/responses/Error"}
            elif doc.errors == "oauth":
                responses["401"] = error  # the client's authentication failed
            if needed:
                # A path key, or an object named in the query or body (a contract, a hospital),
                # that does not exist or is not visible to the caller.
                responses["404"] = {"$ref": "#/components/responses/Error"}
            if needed and method in ("POST", "PATCH", "PUT", "DELETE"):
                responses["409"] = {"$ref": "#/components/responses/Error"}
                if method == "POST" and "201" not in responses:
                    # Creations answer 201 with what they made; actions answer 200.
                    responses["201"] = ok
            if "requestBody" in op:
                # A body beyond the configured size is refused before it is read.
                responses["413"] = error
            for status, text in doc.statuses.items():
                responses[str(status)] = {"description": text}
            responses["503"] = {"$ref": "#/components/responses/Error"}
            op["responses"] = responses
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "AIFI governance registry API", "version": "1",
                 "description": "Routing decisions for hospital gateways and the staff API of the "
                                "registry. Gateways authenticate with OAuth 2.0 client credentials; "
                                "staff with a personal API token. A deny is a normal 200 answer."},
        "servers": [{"url": server_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A gateway's OAuth access token or a person's "
                                                          "API token (aifi_at_…)"}},
            "responses": {"Error": {"description": "An error, always JSON", "content": {"application/json": {
                "schema": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "detail"],
                    "properties": {"code": {"type": "string"}, "detail": {"type": "string"},
                                   "fields": {"type": "object",
                                              "additionalProperties": {"type": "string"}}}}}}}}},
                "OAuthError": {"description": "An OAuth error (RFC 6749 §5.2)", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["error"], "properties": {
                        "error": {"type": "string"}, "error_description": {"type": "string"}}}}}}},
        },
    }
