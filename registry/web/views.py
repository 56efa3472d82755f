"""Web views: parse, call a service, render. The permission each view needs is declared."""

from __future__ import annotations

import functools
from datetime import date
from typing import Callable

from flask import abort, g, redirect, render_template, request, session, url_for

from registry.actor import Actor
from registry.edge import db, log_refusal, registry, request_id
from registry.permissions import Permission
from registry.services.organisations import list_organisations
from registry.services.sessions import SessionPolicy, resume_session
from registry.services.tools import list_tools, versions_by_tool
from registry.web import blueprint
from registry.web.i18n import _l, lang_switch_url

# The cookie's key for the session value (the server-side record is registry.db.sessions).
SESSION_KEY = "sid"


def web_actor() -> Actor | None:
    """The logged-in user of this request, from the server-side session record named by the
    cookie (registry.services.sessions): None once it is logged out, revoked or timed out."""
    reg = registry()
    user = resume_session(db(), clock=reg.clock, value=session.get(SESSION_KEY),
                          policy=SessionPolicy.from_settings(reg.settings))
    db().commit()  # the session's last_seen_at, if it moved; nothing else is written yet
    if user is None:
        session.pop(SESSION_KEY, None)
        return None
    return Actor.for_user(user, request_id=request_id(), network_access_point=request.remote_addr or "")


def public() -> Callable:
    """A page anyone may see (it shows only public facts: hospitals, tools)."""
    def wrap(view: Callable) -> Callable:
        view.required_permissions = ()  # type: ignore[attr-defined]
        return view
    return wrap


def login_required(*permissions: Permission) -> Callable:
    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def inner(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            actor = web_actor()
            if actor is None:
                log_refusal(None, 401)  # NEN 7513: refused attempts are accesses too
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            g.web_actor = actor
            if permissions and not any(actor.can(p) for p in permissions):
                log_refusal(actor, 403, required=permissions)
                g.needed_permissions = permissions
                abort(403)
            return view(*args, **kwargs)
        inner.required_permissions = permissions  # type: ignore[attr-defined]
        return inner
    return wrap


# -- navigation ------------------------------------------------------------------------------------

def nav_items() -> list[dict]:
    """The main navigation for the current person: only what their roles let them open."""
    actor = g.get("web_actor")
    if actor is None:
        return []
    from registry.workspace import OBJECT_TYPES

    items = [("web.index", _l("Dashboard"), None)]
    items += [(f"web.{t.key}_list", t.plural, t.read) for t in OBJECT_TYPES.values() if t.in_nav]
    items += [("web.statements", _l("Statements"), Permission.CONTRACTS_READ),
              ("web.usage_reconciliation", _l("Usage"), Permission.USAGE_READ),
              ("web.monitoring", _l("Monitoring"), Permission.MONITORING_READ),
              ("web.audit_index", _l("Audit trail"), Permission.AUDIT_READ),
              ("web.sso_providers", _l("Single sign-on"), Permission.USERS_MANAGE),
              ("web.webhooks", _l("Webhooks"), Permission.GATEWAYS_MANAGE),
              ("web.tokens", _l("API tokens"), None)]
    current = request.endpoint or ""
    out = []
    for endpoint, label, permission in items:
        if permission is not None and not actor.can(permission):
            continue
        section = endpoint.rsplit("_", 1)[0] if endpoint.endswith("_list") else endpoint
        is_current = current == endpoint or (endpoint.endswith("_list") and current.startswith(section + "_"))
        out.append({"url": url_for(endpoint), "label": label, "current": is_current})
    return out


@blueprint.app_context_processor
def _inject():
    return {"actor": g.get("web_actor"), "nav_items": nav_items, "lang_url": lang_switch_url}


@blueprint.app_template_filter("enum_label")
def _enum_label(value, enum: str) -> str:  # noqa: ANN001
    from registry.workspace.labels import label

    return label(enum, value)


@blueprint.app_template_filter("role_label")
def _role_label(value) -> str:  # noqa: ANN001
    from registry.workspace.labels import label

    return label("role", value)


@blueprint.app_template_filter("reason")
def _reason(code: str) -> str:
    from registry.workspace.labels import reason_sentence

    return reason_sentence(code)


@blueprint.app_template_filter("sentence")
def _sentence(text) -> str:  # noqa: ANN001
    """One of the registry's English sentences (a change's message, an import's line error) in
    the user's language; any other text as it was written."""
    from registry.web.sentences import sentence

    return sentence(text)


@blueprint.app_template_filter("check_value")
def _check_value(value, check: str) -> str:  # noqa: ANN001
    """The outcome of one of an audit entry's checks in words."""
    from registry.workspace.labels import CHECK_VALUES, label

    return label(CHECK_VALUES.get(check, check), value)


@blueprint.app_template_filter("changed_fields")
def _changed_fields(record) -> list[str]:  # noqa: ANN001
    """The changed fields in words (the object type's column labels first), not column names."""
    from registry.workspace import OBJECT_TYPES
    from registry.workspace.labels import field_label

    before, after = record.before or {}, record.after or {}
    if not before:
        return []
    columns = next(({c.key: c.label for c in o.columns} for o in OBJECT_TYPES.values()
                    if o.model.__tablename__ == record.object_type), {})
    return sorted(field_label(k, columns) for k in after if before.get(k) != after.get(k))


def _parse_day(raw: str | None, default: date) -> date:
    if not raw:
        return default
    try:
        day = date.fromisoformat(raw[:10])
    except ValueError:
        abort(400)
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        abort(400)
    return day


@blueprint.get("/")
@public()
def index():
    """Anonymous visitors see the public list of participants; staff their dashboard."""
    actor = g.web_actor = web_actor()
    session_ = db()
    if actor is None:
        tools = list_tools(session_)
        versions = versions_by_tool(session_)
        return render_template("index.html", hospitals=list_organisations(session_, kind="hospital"),
                               tools=tools, versions={t.id: versions.get(t.id, []) for t in tools},
                               vendors={o.id: o for o in list_organisations(session_, kind="vendor")})
    from registry.db.consent import Purpose
    from registry.domain.terms import term_date
    from registry.services.attention import needs_attention
    from registry.services.matrix import routing_matrix
    from sqlalchemy import select

    reg = registry()
    today = term_date(reg.clock.now())
    on = _parse_day(request.args.get("on"), today)
    purpose = (request.args.get("purpose") or "clinical-care")[:40]
    page = request.args.get("page", "1")
    page = int(page) if page.isascii() and page.isdigit() and 0 < len(page) < 6 and int(page) > 0 else 1
    matrix = None
    if actor.can(Permission.DECISIONS_READ):
        matrix = routing_matrix(session_, actor=actor, engine=reg.policy, on=on, purpose=purpose, page=page)
    purposes = list(session_.scalars(select(Purpose).where(Purpose.active).order_by(Purpose.code)))
    return render_template("dashboard.html", matrix=matrix, on=on, purpose=purpose, purposes=purposes,
                           attention=needs_attention(session_, actor=actor, clock=reg.clock),
                           today=today)


@blueprint.get("/matrix/explain")
@login_required(Permission.DECISIONS_READ)
def matrix_explain():
    from registry.domain.terms import term_date
    from registry.services.matrix import explain_cell

    reg = registry()
    on = _parse_day(request.args.get("on"), term_date(reg.clock.now()))
    purpose = (request.args.get("purpose") or "clinical-care")[:40]
    cell = explain_cell(db(), actor=g.web_actor, engine=reg.policy,
                        hospital_ura=(request.args.get("hospital") or "")[:8],
                        tool_slug=(request.args.get("tool") or "")[:64], purpose=purpose, on=on)
    return render_template("matrix_explain.html", cell=cell, on=on, purpose=purpose)


@blueprint.get("/search")
@login_required()
def search():
    from registry.services.search import search_registry
    from registry.workspace.base import clean_text

    q = clean_text(request.args.get("q"))
    results = search_registry(db(), actor=g.web_actor, q=q) if q else []
    return render_template("search.html", q=q, results=results)
