"""The staff API's generic routes: ``GET /api/v1/<objects>`` (the same filters, search, sorting and
pagination as the list page) and ``GET /api/v1/<objects>/<key>``, for every described object.

Changes go through per-object routes (``registry/api/staff_*.py``) that call the services."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint, current_app, jsonify, render_template, request
from pydantic import BaseModel, Field, create_model

from registry.api import blueprint
from registry.api.auth import current_actor, parse_query, requires
from registry.api.openapi import build_document, document
from registry.edge import db, registry
from registry.permissions import Permission
from registry.services.errors import ValidationFailed
from registry.validation import Day
from registry.workspace import OBJECT_TYPES, ObjectType, load_all
from registry.workspace.base import Names, get_row, list_rows

load_all()

# Routes that already exist with their own shape (the gateway API), so no generic twin is made.
_NO_GENERIC_DETAIL = {"decisions"}


def _query_model(otype: ObjectType) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "q": (str | None, Field(default=None, description="search text")),
        "sort": (str | None, Field(default=None, description="a column key, '-' in front for descending")),
        # Parsed as the list page's form sends them: an empty value means the default.
        "page": (Annotated[int, Field(ge=1)] | Literal[""] | None, None),
        "per_page": (Annotated[int, Field(ge=1, le=500)] | Literal[""] | None, None),
    }
    for flt in otype.filters:
        fields[flt.key] = (str | None, Field(default=None, description=f"filter on {flt.key}"))
    return create_model(f"{otype.model.__name__}Query", **fields)


def listing_body(otype: ObjectType, listing, names: Names) -> dict[str, Any]:  # noqa: ANN001
    return {"items": [otype.to_public(row, names) for row in listing.rows], "total": listing.total,
            "page": listing.page, "per_page": listing.per_page}


def _list_view(otype: ObjectType):  # noqa: ANN202
    def view():  # noqa: ANN202
        session = db()
        listing = list_rows(session, actor=current_actor(), otype=otype, params=request.args)
        return jsonify(listing_body(otype, listing, Names(session)))
    view.__name__ = f"{otype.key}_list"
    view = requires(otype.read)(view)
    return document(f"List {otype.key}", "Staff: " + otype.key, response=otype.public, list_of=True,
                    query=_query_model(otype))(view)


def _detail_view(otype: ObjectType):  # noqa: ANN202
    def view(key: str):  # noqa: ANN202
        session = db()
        row = get_row(session, actor=current_actor(), otype=otype, key=key)
        return jsonify(otype.to_public(row, Names(session)))
    view.__name__ = f"{otype.key}_detail"
    view = requires(otype.read)(view)
    return document(f"One of {otype.key}", "Staff: " + otype.key, response=otype.public)(view)


for _otype in OBJECT_TYPES.values():
    blueprint.add_url_rule(f"/{_otype.key}", endpoint=f"{_otype.key}_list", view_func=_list_view(_otype))
    if _otype.key not in _NO_GENERIC_DETAIL:
        blueprint.add_url_rule(f"/{_otype.key}/<key>", endpoint=f"{_otype.key}_detail",
                               view_func=_detail_view(_otype))


# -- the routing matrix ----------------------------------------------------------------------------

class MatrixQuery(BaseModel):
    on: Day | None = Field(default=None, description="the day (Europe/Amsterdam); default today")
    purpose: str = Field(default="clinical-care", max_length=40)
    page: int = Field(default=1, ge=1, le=100_000)


class MatrixCellOut(BaseModel):
    hospital: dict[str, Any]
    tool: str
    decision: str
    contracted: bool
    reasons: list[dict[str, Any]]


class MatrixOut(BaseModel):
    on: Day
    purpose: str
    page: int
    pages: int
    cells: list[MatrixCellOut]


@blueprint.get("/matrix")
@document("The routing matrix: hospitals × tools on the terms for a day", "Staff: matrix",
          query=MatrixQuery, response=MatrixOut)
@requires(Permission.DECISIONS_READ)
def matrix():
    from registry.domain.terms import term_date
    from registry.services.matrix import routing_matrix

    query = parse_query(MatrixQuery)
    reg = registry()
    result = routing_matrix(db(), actor=current_actor(), engine=reg.policy,
                            on=query.on or term_date(reg.clock.now()), purpose=query.purpose, page=query.page)
    cells = [{"hospital": {"ura": h.ura, "name": h.name}, "tool": c.tool.slug, "decision": c.decision,
              "contracted": c.snapshot.licence is not None, "reasons": c.reasons}
             for h, row in result.rows for c in row]
    return jsonify({"on": result.on.isoformat(), "purpose": result.purpose, "page": result.page,
                    "pages": result.pages, "cells": cells})


# -- the global search -----------------------------------------------------------------------------

class SearchQuery(BaseModel):
    q: str = Field(min_length=1, max_length=200, description="a name, URA, reference, decision id or client id")


class SearchHit(BaseModel):
    type: str
    key: str
    title: str


class SearchOut(BaseModel):
    q: str
    hits: list[SearchHit]


@blueprint.get("/search")
@document("Search what the caller may see: hospitals, tools, references, decisions, gateways", "Staff: search",
          query=SearchQuery, response=SearchOut)
@requires(*sorted({t.read for t in OBJECT_TYPES.values()}))
def search():
    from registry.services.search import search_registry
    from registry.workspace.base import clean_text

    q = clean_text(parse_query(SearchQuery).q)
    if not q:
        raise ValidationFailed("nothing to search for", {"q": "is required"})
    hits = search_registry(db(), actor=current_actor(), q=q)
    return jsonify({"q": q, "hits": [{"type": h.type_key, "key": OBJECT_TYPES[h.type_key].url_key(h.row),
                                      "title": OBJECT_TYPES[h.type_key].title(h.row)} for h in hits]})


# -- the document itself ---------------------------------------------------------------------------

docs_blueprint = Blueprint("api_docs", __name__, url_prefix="/api")


def _document() -> dict[str, Any]:
    """The document, built once per app and issuer: it depends only on the URL map and the models,
    and building it walks every route and schema (tens of milliseconds a request otherwise)."""
    built = current_app.extensions.setdefault("openapi_documents", {})
    issuer = registry().settings.issuer
    if issuer not in built:
        built[issuer] = build_document(current_app, issuer)
    return built[issuer]


@docs_blueprint.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document (public: it describes the API, not data)."""
    return jsonify(_document())


openapi.required_permissions = ()  # type: ignore[attr-defined]


@docs_blueprint.get("/docs")
def docs():
    """The same document as a readable page (no JavaScript, no CDN)."""
    from flask import g

    from registry.web.views import web_actor

    g.web_actor = web_actor()
    return render_template("api_docs.html", doc=_document())


docs.required_permissions = ()  # type: ignore[attr-defined]

