"""Organisation pages beyond list and detail: register, edit, suspend and reactivate.

Offboarding is not offered here: it is the procurement workspace's guided action (it ends
licences and gateways too), never a status edit."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from registry.db.organisations import OrganisationKind, OrganisationStatus
from registry.edge import db, registry
from registry.permissions import Permission
from registry.services import organisations as service
from registry.web import blueprint
from registry.web.forms import submit
from registry.web.i18n import _, _l
from registry.web.views import login_required
from registry.workspace import OBJECT_TYPES
from registry.workspace.base import get_row
from registry.workspace.labels import label

_EIGHT = _l("8 digits; leave empty if the organisation has none.")


class OrganisationForm(FlaskForm):
    kind = SelectField(_l("Kind"), validate_choice=False)
    # The service validates (one rule for the UI and the API): no field validators here, so that
    # every error shows at once.
    name = StringField(_l("Name"))
    ura = StringField(_l("URA"), description=_l(
        "The UZI-register subscriber number: 8 digits. Hospitals need one to register gateways."))
    agb = StringField(_l("AGB code"), description=_EIGHT)
    kvk = StringField(_l("KvK number"), description=_EIGHT)
    country = StringField(_l("Country"), default="NL", description=_l("Two letters (ISO 3166), such as NL or DE."))


class StatusForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(_l("Say why.")), Length(max=500, message=_l("This is too long."))],
                           description=_l("Recorded in the history and the audit trail."))


def _organisation(key: str):  # noqa: ANN202
    return get_row(db(), actor=g.web_actor, otype=OBJECT_TYPES["organisations"], key=key)


def _form_page(form: OrganisationForm, org=None, status: int = 200):  # noqa: ANN001, ANN202
    heading = _("Edit %(name)s", name=org.name) if org else _("New organisation")
    return render_template("admin/organisation_form.html", form=form, org=org, heading=heading), status


@blueprint.route("/organisations/new", methods=["GET", "POST"])
@login_required(Permission.ORGANISATIONS_WRITE)
def organisation_create():
    form = OrganisationForm()
    form.kind.choices = [(k.value, label("kind", k.value)) for k in OrganisationKind]
    if not form.validate_on_submit():
        return _form_page(form, status=400 if request.method == "POST" else 200)
    ok, org = submit(form, lambda: service.create_organisation(
        db(), actor=g.web_actor, clock=registry().clock, kind=form.kind.data, name=form.name.data,
        ura=form.ura.data, agb=form.agb.data, kvk=form.kvk.data, country=form.country.data))
    if not ok:
        return _form_page(form, status=400)
    flash(_("%(name)s is registered.", name=org.name), "success")
    return redirect(url_for("web.organisations_detail", key=org.id))


@blueprint.route("/organisations/<key>/edit", methods=["GET", "POST"])
@login_required(Permission.ORGANISATIONS_WRITE)
def organisations_edit(key: str):
    org = _organisation(key)
    form = OrganisationForm(obj=org)
    del form.kind  # the kind of an organisation does not change; register a new one
    if not form.validate_on_submit():
        return _form_page(form, org, status=400 if request.method == "POST" else 200)
    ok, _row = submit(form, lambda: service.update_organisation(
        db(), actor=g.web_actor, clock=registry().clock, organisation_id=org.id,
        changes={k: form[k].data for k in service.EDITABLE}))
    if not ok:
        return _form_page(form, org, status=400)
    flash(_("The changes to %(name)s are saved.", name=org.name), "success")
    return redirect(url_for("web.organisations_detail", key=org.id))


# Where each status may go from here (offboarded: nowhere, see the module docstring).
ORGANISATION_MOVES = {OrganisationStatus.ACTIVE: ("suspended",), OrganisationStatus.SUSPENDED: ("active",),
                      OrganisationStatus.OFFBOARDED: ()}
STATUS_HEADINGS = {"suspended": _l("Suspend %(name)s"), "active": _l("Reactivate %(name)s"),
                   "revoked": _l("Revoke %(name)s for good")}
STATUS_EXPLAINED = {
    ("organisations", "suspended"): _l("While suspended, every routing request of this organisation is denied. "
                                       "You can reactivate it later."),
    ("organisations", "active"): _l("Requests are judged on the terms again from the next decision on."),
    ("gateways", "suspended"): _l("The gateway's tokens stop working at once; it cannot get new ones until "
                                  "it is reactivated."),
    ("gateways", "active"): _l("The gateway can get tokens again with its current credential."),
    ("gateways", "revoked"): _l("The gateway's tokens stop working at once and it can never be used again; "
                                "register a new gateway to replace it."),
}


def status_page(type_key: str, row, moves: tuple[str, ...], change):  # noqa: ANN001, ANN202
    """The page that moves an organisation or gateway to another status, with its reason.
    ``change(to, reason)`` calls the service."""
    wanted = request.args.get("to", "")
    to = wanted if wanted in moves else (moves[0] if moves else None)
    form = StatusForm()
    title = OBJECT_TYPES[type_key].title(row)
    page = dict(row=row, type_key=type_key, to=to, title=title, form=form,
                heading=STATUS_HEADINGS[to] % {"name": title} if to else title,
                explained=STATUS_EXPLAINED.get((type_key, to)))
    if to is None or not form.validate_on_submit():
        failed = request.method == "POST"
        return render_template("admin/status_form.html", **page), 400 if failed else 200
    ok, _row = submit(form, lambda: change(to, form.reason.data.strip()), fallback="reason")
    if not ok:
        return render_template("admin/status_form.html", **page), 400
    flash(_("%(name)s is now %(status)s.", name=title, status=label("status", to)), "success")
    return redirect(url_for(f"web.{type_key}_detail", key=OBJECT_TYPES[type_key].url_key(row)))


@blueprint.route("/organisations/<key>/status", methods=["GET", "POST"])
@login_required(Permission.ORGANISATIONS_WRITE)
def organisations_status(key: str):
    org = _organisation(key)
    return status_page("organisations", org, ORGANISATION_MOVES[OrganisationStatus(org.status)],
                       lambda to, reason: service.set_organisation_status(
                           db(), actor=g.web_actor, clock=registry().clock, organisation_id=org.id,
                           status=to, reason=reason))
