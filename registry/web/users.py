"""User pages beyond list and detail (admins, users:manage): create, change roles and
organisation, disable and enable, reset the password. No e-mail is sent: a one-time password is
shown once to the admin, in the POST's own response, to pass on."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField, SelectMultipleField, StringField, widgets

from registry.db.organisations import Organisation
from registry.edge import db, registry
from registry.permissions import ROLES, Permission
from registry.scope import restrict, scope_of
from registry.services import users as service
from registry.services.errors import ValidationFailed
from registry.web import blueprint
from registry.web.forms import submit, translated
from registry.web.i18n import _, _l
from registry.web.views import login_required
from registry.workspace import OBJECT_TYPES
from registry.workspace.base import get_row
from registry.workspace.labels import label

NATIONAL = ""  # the organisation choice that means none: national staff


class UserForm(FlaskForm):
    # The service validates (one rule for the UI and the API): every error shows at once.
    email = EmailField(_l("E-mail address"))
    name = StringField(_l("Name"))
    organisation_id = SelectField(_l("Organisation"), validate_choice=False, description=_l(
        "A person of a hospital or a vendor sees only what concerns their own organisation."))
    roles = SelectMultipleField(_l("Roles"), validate_choice=False, option_widget=widgets.CheckboxInput(),
                                widget=widgets.ListWidget(prefix_label=False),
                                description=_l("What the person may do; at least one."))
    locale = SelectField(_l("Language"), default="nl", validate_choice=False)


def _choices(form: UserForm) -> None:
    session = db()
    scope = scope_of(session, g.web_actor)
    orgs = session.scalars(restrict(select(Organisation), scope, Organisation).order_by(Organisation.name))
    national = [(NATIONAL, _("None: national staff"))] if scope.national else []
    form.organisation_id.choices = national + [(str(o.id), f"{o.name} ({label('kind', o.kind)})") for o in orgs]
    form.roles.choices = [(r, label("role", r)) for r in ROLES]
    form.locale.choices = [("nl", "Nederlands"), ("en", "English")]  # each language in its own words


def _organisation_id(form: UserForm) -> int | None:
    raw = form.organisation_id.data or NATIONAL
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else (None if raw == NATIONAL else -1)


def _form_page(form: UserForm, user=None, status: int = 200):  # noqa: ANN001, ANN202
    heading = _("Change %(email)s", email=user.email) if user else _("New user")
    return render_template("admin/user_form.html", form=form, user=user, heading=heading), status


def _user(key: str):  # noqa: ANN202
    return get_row(db(), actor=g.web_actor, otype=OBJECT_TYPES["users"], key=key)


def _password_page(user, password: str, heading: str):  # noqa: ANN001, ANN202
    return render_template("admin/user_password.html", user=user, password=password, heading=heading)


@blueprint.route("/users/new", methods=["GET", "POST"])
@login_required(Permission.USERS_MANAGE)
def user_create():
    form = UserForm()
    _choices(form)
    if request.method == "GET" and not form.roles.data:
        form.roles.data = ["viewer"]
    if not form.validate_on_submit():
        return _form_page(form, status=400 if request.method == "POST" else 200)
    ok, created = submit(form, lambda: service.create_user(
        db(), actor=g.web_actor, clock=registry().clock, email=form.email.data or "",
        name=form.name.data or "", roles=form.roles.data or [], organisation_id=_organisation_id(form),
        locale=form.locale.data))
    if not ok:
        return _form_page(form, status=400)
    user, password = created
    return _password_page(user, password, _("%(email)s can now log in", email=user.email))


@blueprint.route("/users/<key>/edit", methods=["GET", "POST"])
@login_required(Permission.USERS_MANAGE)
def users_edit(key: str):
    user = _user(key)
    form = UserForm(obj=user)
    del form.email  # the e-mail address is the login name; a new address is a new account
    _choices(form)
    if request.method == "GET":
        form.organisation_id.data = str(user.organisation_id) if user.organisation_id else NATIONAL
    if not form.validate_on_submit():
        return _form_page(form, user, status=400 if request.method == "POST" else 200)
    ok, _row = submit(form, lambda: service.update_user(
        db(), actor=g.web_actor, clock=registry().clock, user_id=user.id, changes={
            "name": form.name.data or "", "roles": form.roles.data or [],
            "organisation_id": _organisation_id(form), "locale": form.locale.data}))
    if not ok:
        return _form_page(form, user, status=400)
    flash(_("The changes to %(email)s are saved.", email=user.email), "success")
    return redirect(url_for("web.users_detail", key=user.id))


class ConfirmForm(FlaskForm):
    """Only the CSRF token: a button that changes something."""


@blueprint.post("/users/<key>/active")
@login_required(Permission.USERS_MANAGE)
def users_active(key: str):
    user = _user(key)
    form = ConfirmForm()
    wanted = request.form.get("active")
    if wanted not in ("0", "1"):
        abort(400)  # the page's buttons always say which
    if form.validate_on_submit():
        active = wanted == "1"
        session = db()
        try:
            service.set_user_active(session, actor=g.web_actor, clock=registry().clock, user_id=user.id,
                                    active=active)
        except ValidationFailed as exc:
            session.rollback()
            message = next(iter(exc.fields.values()), exc.detail)
            flash(_("%(email)s is not disabled: %(why)s", email=user.email, why=translated(message)), "error")
        else:
            session.commit()
            flash(_("%(email)s is enabled.", email=user.email) if active
                  else _("%(email)s is disabled: they can no longer log in.", email=user.email), "success")
    return redirect(url_for("web.users_detail", key=user.id))


@blueprint.post("/users/<key>/password")
@login_required(Permission.USERS_MANAGE)
def users_password(key: str):
    user = _user(key)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("web.users_detail", key=user.id))
    session = db()
    user, password = service.reset_password(session, actor=g.web_actor, clock=registry().clock, user_id=user.id)
    session.commit()
    return _password_page(user, password, _("New one-time password for %(email)s", email=user.email))
