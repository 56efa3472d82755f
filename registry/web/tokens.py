"""Personal API tokens: create (the token is shown once), list, revoke."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectMultipleField, StringField, widgets
from wtforms.validators import InputRequired, Length, NumberRange

from registry.edge import db, registry
from registry.services import api_tokens as service
from registry.services.errors import ValidationFailed
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.views import login_required


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)],
                       description=_l("So that you recognise the token later, for example the script that uses it."))
    days = IntegerField(_l("Valid for (days)"), default=service.DEFAULT_DAYS,
                        validators=[InputRequired(), NumberRange(1, service.MAX_DAYS)],
                        description=_l("From 1 to 366 days."))
    scopes = SelectMultipleField(_l("Permissions"), option_widget=widgets.CheckboxInput(),
                                 widget=widgets.ListWidget(prefix_label=False),
                                 description=_l("The token can do only this, and never more than your roles allow."))


def _form() -> TokenForm:
    form = TokenForm()
    form.scopes.choices = [(p.value, p.value) for p in sorted(g.web_actor.permissions)]
    if request.method == "GET":
        form.scopes.data = [p.value for p in g.web_actor.permissions if p.value.endswith(":read")]
    return form


def _page(form: TokenForm, created=None, status: int = 200):  # noqa: ANN001, ANN202
    tokens = service.list_personal_tokens(db(), actor=g.web_actor, user_id=int(g.web_actor.id))
    return render_template("tokens.html", form=form, tokens=tokens, created=created,
                           now=registry().clock.now()), status


@blueprint.route("/tokens", methods=["GET", "POST"])
@login_required()
def tokens():
    form = _form()
    if request.method == "POST":
        if form.validate_on_submit():
            session = db()
            try:
                created = service.create_personal_token(
                    session, actor=g.web_actor, clock=registry().clock, user_id=int(g.web_actor.id),
                    name=form.name.data, days=form.days.data, scopes=form.scopes.data)
            except ValidationFailed as exc:
                for key, message in exc.fields.items():
                    getattr(form, key, form.name).errors = [*getattr(form, key, form.name).errors, message]
                return _page(form, status=400)
            session.commit()
            # Rendered, not redirected: the token must never pass through the (cookie) session.
            return _page(_form(), created=created)
        return _page(form, status=400)
    return _page(form)


@blueprint.post("/tokens/<int:token_id>/revoke")
@login_required()
def token_revoke(token_id: int):
    session = db()
    row = service.revoke_personal_token(session, actor=g.web_actor, clock=registry().clock, token_id=token_id)
    session.commit()
    flash(_("The API token “%(name)s” is revoked.", name=row.name), "success")
    return redirect(url_for("web.tokens"))
