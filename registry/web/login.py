"""Logging in and out of the web UI: server-side sessions (registry.services.sessions), login
throttling with a clear message, and a ``next=`` that can only lead back into the registry."""

from __future__ import annotations

import math
from urllib.parse import unquote, urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from registry.db.users import User
from registry.edge import db, registry, request_id
from registry.services.sessions import SessionPolicy, end_session, log_in, open_session
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.views import SESSION_KEY, login_required, public

def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None. Checked after percent-decoding, and
    refusing backslashes and control characters, because browsers read ``/\\evil.example``,
    ``/%2F/evil.example`` or ``/\\t/evil.example`` as another host."""
    if not target or len(target) > 2000:
        return None
    decoded = unquote(target)
    if any(not ch.isprintable() for ch in decoded) or "\\" in decoded:
        return None
    for candidate in (target, decoded):
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
            return None
    return target


def begin_session(user: User, *, method: str) -> None:
    """Log ``user`` in on this browser (after a password check, or an SSO login): a new
    server-side session record and a fresh cookie. The caller commits."""
    reg = registry()
    value = open_session(db(), clock=reg.clock, user=user, address=request.remote_addr or "",
                         policy=SessionPolicy.from_settings(reg.settings),
                         request_id=request_id(), method=method)
    lang = session.get("lang")
    session.clear()  # nothing from before the login survives it (session fixation)
    session[SESSION_KEY] = value
    if lang:
        session["lang"] = lang


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


@blueprint.route("/login", methods=["GET", "POST"])
@public()
def login():
    form = LoginForm()
    status = 200 if request.method == "GET" else 400
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        reg = registry()
        result = log_in(db(), clock=reg.clock, email=form.email.data, password=form.password.data,
                        address=request.remote_addr or "",
                        policy=SessionPolicy.from_settings(reg.settings), request_id=request_id())
        if result.outcome == "success":
            begin_session(result.user, method="password")
            db().commit()
            return redirect(safe_next(request.args.get("next")) or url_for("web.index"))
        db().commit()  # the failure and its audit entry
        if result.outcome == "locked":
            minutes = max(1, math.ceil(result.retry_after.total_seconds() / 60))
            flash(_("Too many failed login attempts. Try again in %(minutes)s minutes.", minutes=minutes),
                  "error")
            status = 429
            headers["Retry-After"] = str(math.ceil(result.retry_after.total_seconds()))
        else:
            flash(_("Unknown e-mail address or wrong password."), "error")
    return render_template("login.html", form=form), status, headers


@blueprint.post("/logout")
@login_required()
def logout():
    end_session(db(), actor=g.web_actor, clock=registry().clock, value=session.get(SESSION_KEY))
    db().commit()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("web.index"))
