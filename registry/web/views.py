"""Web views: parse, call a service, render. The permission each view needs is declared."""

from __future__ import annotations

import functools
from typing import Callable

from flask import abort, g, redirect, render_template, request, session, url_for

from registry.actor import Actor
from registry.db.users import User
from registry.edge import db, request_id
from registry.permissions import Permission
from registry.services.organisations import list_organisations
from registry.services.tools import list_tools, versions_by_tool
from registry.web import blueprint
from registry.web.i18n import current_locale, translate


@blueprint.app_context_processor
def _inject():
    return {"_": translate, "locale": current_locale(), "actor": g.get("web_actor")}


def web_actor() -> Actor | None:
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = db().get(User, user_id)
    if user is None or not user.active:
        session.clear()
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
                return redirect(url_for("web.login", next=request.path))
            if permissions and not any(actor.can(p) for p in permissions):
                abort(403)
            g.web_actor = actor
            return view(*args, **kwargs)
        inner.required_permissions = permissions  # type: ignore[attr-defined]
        return inner
    return wrap


@blueprint.get("/")
@public()
def index():
    g.web_actor = web_actor()
    session_ = db()
    tools = list_tools(session_)
    versions = versions_by_tool(session_)
    return render_template("index.html", hospitals=list_organisations(session_, kind="hospital"),
                           tools=tools, versions={t.id: versions.get(t.id, []) for t in tools},
                           vendors={o.id: o for o in list_organisations(session_, kind="vendor")})
