"""Logging in and out of the web UI."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from registry.edge import db
from registry.services.users import authenticate
from registry.web import blueprint
from registry.web.i18n import translate
from registry.web.views import login_required, public


class LoginForm(FlaskForm):
    email = EmailField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])


@blueprint.route("/login", methods=["GET", "POST"])
@public()
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db(), form.email.data, form.password.data)
        if user is not None:
            session.clear()
            session["user_id"] = user.id
            target = request.args.get("next", "")
            # Only local paths: never an open redirect.
            return redirect(target if target.startswith("/") and not target.startswith("//")
                            else url_for("web.index"))
        flash(translate("login.failed"), "error")
    return render_template("login.html", form=form), (200 if request.method == "GET" else 400)


@blueprint.post("/logout")
@login_required()
def logout():
    session.clear()
    return redirect(url_for("web.index"))
