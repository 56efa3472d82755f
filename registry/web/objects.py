"""The generic object pages: list (filters, search, sorting, counts, CSV) and detail (fields,
related objects, change history, audit entries), one set of views for every described object.

Forms and workflow actions are per object (``registry/web/<noun>.py``); they call services.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, render_template, request, stream_with_context, url_for
from markupsafe import Markup
from sqlalchemy import select

from registry.edge import db, registry
from registry.permissions import Permission
from registry.services import audit as audit_service
from registry.web import blueprint
from registry.web.i18n import format_day, format_moment, format_money, gettext
from registry.web.views import login_required
from registry.workspace import OBJECT_TYPES, ObjectType, load_all
from registry.workspace.base import Column, Names, csv_lines, export_statement, get_row, history, list_rows
from registry.workspace.labels import label, reason_sentence

load_all()


def object_url(type_key: str, row: Any) -> str:
    otype = OBJECT_TYPES[type_key]
    return url_for(f"web.{type_key}_detail", key=otype.url_key(row))


def cell_text(column: Column, value: Any, names: Names) -> str:
    """A cell as plain text in the user's language (the CSV and the page agree)."""
    if value is None or value == "":
        return ""
    if column.kind == "badge":
        return label(column.enum or column.key, value)
    if column.kind == "org":
        return names.org(value)
    if column.kind == "tool":
        return names.tool(value)
    if column.kind == "day":
        return format_day(value)
    if column.kind == "moment":
        return format_moment(value)
    if column.kind == "money":
        return format_money(value)
    if column.kind == "bool":
        return gettext("yes") if value else gettext("no")
    if column.kind == "list":
        return ", ".join(str(v) for v in value)
    if column.kind == "roles":
        return ", ".join(label("role", r) for r in value)
    if column.kind == "purpose":
        return purpose_label(value)
    if column.kind == "reasons":
        return "; ".join(reason_sentence(code) for code in value)
    return str(value)


def _list_view(otype: ObjectType):  # noqa: ANN202
    def view():  # noqa: ANN202
        session = db()
        listing = list_rows(session, actor=g.web_actor, otype=otype, params=request.args)
        names = Names(session)
        from registry.scope import scope_of

        scope = scope_of(session, g.web_actor)
        options = {f.key: f.options(session, scope) for f in otype.filters if f.options is not None}
        return render_template("objects/list.html", otype=otype, listing=listing, names=names,
                               options=options, cell_text=cell_text, object_url=object_url)
    view.__name__ = f"{otype.key}_list"
    return login_required(otype.read)(view)


def _export_view(otype: ObjectType):  # noqa: ANN202
    def view():  # noqa: ANN202
        # The query is checked here (a bad filter is a 400, the scope is the request's actor);
        # the rows are read a chunk at a time while the response is sent. The view's session is
        # closed once it returns: db() in the stream opens the stream's own, which the edge
        # closes when the stream ends (stream_with_context runs the teardown again).
        stmt = export_statement(db(), actor=g.web_actor, otype=otype, params=request.args)

        def body():  # noqa: ANN202
            session = db()
            names = Names(session)
            # Closed however the stream ends (read to the end, or dropped by the client): a
            # server-side cursor is not left open.
            with session.scalars(stmt) as rows:
                yield from csv_lines(otype, rows, names, labels=lambda c: str(c.label),
                                     value_text=lambda c, v: cell_text(c, v, names))
        return Response(stream_with_context(body()), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename={otype.key}.csv",
                                 "Cache-Control": "no-store"})
    view.__name__ = f"{otype.key}_export"
    return login_required(otype.read)(view)


def _detail_view(otype: ObjectType):  # noqa: ANN202
    def view(key: str):  # noqa: ANN202
        session = db()
        actor = g.web_actor
        row = get_row(session, actor=actor, otype=otype, key=key)
        names = Names(session)
        from registry.scope import scope_of

        scope = scope_of(session, actor)
        refs = otype.refs(row)
        entries = []
        if actor.can(Permission.AUDIT_READ):
            for table, ident in refs[:1]:
                entries = audit_service.object_history(session, actor=actor, clock=registry().clock,
                                                       object_type=table, object_id=ident)[-50:]
            session.commit()  # NEN 7513: reading the audit trail is itself logged
        return render_template("objects/detail.html", otype=otype, row=row, names=names,
                               fields=otype.fields(row, names), related=otype.related(session, scope, row),
                               changes=history(session, refs), entries=entries, cell_text=cell_text,
                               object_url=object_url, OBJECT_TYPES=OBJECT_TYPES)
    view.__name__ = f"{otype.key}_detail"
    return login_required(otype.read)(view)


def register_object_views() -> None:
    for otype in OBJECT_TYPES.values():
        blueprint.add_url_rule(f"/{otype.key}", endpoint=f"{otype.key}_list", view_func=_list_view(otype))
        blueprint.add_url_rule(f"/{otype.key}/export.csv", endpoint=f"{otype.key}_export",
                               view_func=_export_view(otype))
        blueprint.add_url_rule(f"/{otype.key}/<key>", endpoint=f"{otype.key}_detail",
                               view_func=_detail_view(otype))


register_object_views()
blueprint.add_app_template_global(object_url, "object_url")


@blueprint.app_template_global("request_names")
def request_names() -> Names:
    """Names of organisations and tools for this request (loaded once, on first use)."""
    if "names" not in g:
        g.names = Names(db())
    return g.names


# The audit trail names objects as their change records do (table, id); these are the pages.
AUDIT_OBJECT_PAGES = {"organisations": "organisations", "gateways": "gateways", "licences": "licences",
                      "framework_contracts": "contracts", "data_processing_agreements": "agreements",
                      "users": "users", "decision": "decisions", "decisions": "decisions",
                      "patient_objections": "objections", "deployments": "deployments"}


@blueprint.app_template_global("audit_object_url")
def audit_object_url(object_type: str, object_id: str) -> str | None:
    """The page of an object named in the audit trail, if it has one."""
    type_key = AUDIT_OBJECT_PAGES.get(object_type)
    if type_key is None or not object_id:
        return None
    return url_for(f"web.{type_key}_detail", key=object_id)
blueprint.add_app_template_global(OBJECT_TYPES, "OBJECT_TYPES")


@blueprint.app_template_global("actor_name")
def actor_name(ref: str) -> str:
    """Who an audit entry's actor reference is, in words ("user:3" → their name and e-mail)."""
    from registry.db.organisations import Gateway
    from registry.db.users import User

    cache = g.setdefault("actor_names", {})
    if ref not in cache:
        kind, _, ident = ref.partition(":")
        text = ref
        if kind == "user" and ident.isascii() and ident.isdigit() and len(ident) < 19:
            user = db().get(User, int(ident))
            text = f"{user.name} ({user.email})" if user and user.name else (user.email if user else ref)
        elif kind == "gateway":
            gw = db().scalar(select(Gateway).where(Gateway.client_id == ident))
            text = f"{gw.name} ({request_names().org(gw.hospital_id)})" if gw else ref
        elif kind == "system":
            text = gettext("the registry (%(what)s)", what=ident)
        cache[ref] = text
    return cache[ref]


def _small_int(value: object) -> bool:
    text = str(value)
    return text.isascii() and text.isdigit() and len(text) < 19


blueprint.add_app_template_filter(actor_name, "actor_label")


@blueprint.app_template_global("object_label")
def object_label(object_type: str, object_id: str) -> str:
    """An object named in the audit trail, by its name or reference where it has one."""
    names = request_names()
    if object_type == "organisations" and _small_int(object_id):
        return names.org(int(object_id)) or object_id
    type_key = AUDIT_OBJECT_PAGES.get(object_type)
    if type_key in ("contracts", "licences", "agreements", "gateways", "users") and _small_int(object_id):
        otype = OBJECT_TYPES[type_key]
        row = db().get(otype.model, int(object_id))
        return otype.title(row) if row is not None else object_id
    return object_id


@blueprint.app_template_global("badge_outcome")
def badge_outcome(outcome: str) -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(outcome, label("outcome", outcome))


@blueprint.app_template_filter("purpose")
def purpose_label(code: str) -> str:
    """A purpose code in words, in the user's language (the code list keeps both labels)."""
    from registry.db.consent import Purpose
    from registry.web.i18n import get_locale

    if "purposes" not in g:
        g.purposes = {p.code: p for p in db().scalars(select(Purpose))}
    found = g.purposes.get(code)
    if found is None:
        return code
    return found.label_nl if str(get_locale()) == "nl" else found.label_en
