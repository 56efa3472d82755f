"""Web views: parse, call a service, render. The permission each view needs is declared."""

from __future__ import annotations

import functools
from typing import Callable

from flask import abort, g, redirect, render_template, request, session, url_for

from registry.actor import Actor
from registry.edge import db, log_refusal, registry, request_id
from registry.permissions import Permission
from registry.services.organisations import list_organisations
from registry.services.sessions import SessionPolicy, resume_session
from registry.services.tools import list_tools, versions_by_tool
from registry.web import blueprint
from registry.web.i18n import current_locale, translate

# The cookie's key for the session value (the server-side record is registry.db.sessions).
SESSION_KEY = "sid"


@blueprint.app_context_processor
def _inject():
    return {"_": translate, "locale": current_locale(), "actor": g.get("web_actor")}


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
            if permissions and not any(actor.can(p) for p in permissions):
                log_refusal(actor, 403, required=permissions)
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
