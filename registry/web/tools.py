"""Tool and version pages: create and edit tools, add and edit versions (intended use as a
structured form, never raw JSON), make a version the default, suspend and reinstate with a reason.

Each form posts to one service call; the services write the change record and check
``tools:write`` (and whose tool it is) again."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (BooleanField, DateField, DecimalField, RadioField, SelectField, SelectMultipleField,
                     StringField, TextAreaField, widgets)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from registry.db.organisations import Organisation
from registry.domain.intended_use import ATTRIBUTES
from registry.domain.terms import term_date
from registry.edge import db, registry
from registry.permissions import Permission
from registry.services import tools as service
from registry.services.errors import ServiceError, ValidationFailed
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.views import login_required
from registry.workspace.base import get_row
from registry.workspace.labels import ENUMS
from registry.workspace.types.tools import TOOLS, certificate_state, describe_intended_use, versions_of

# DICOM Modality codes (PS3.3 C.7.3.1.1.1) a radiology AI tool may be certified for.
MODALITIES = [("CR", _l("CR – computed radiography")), ("DX", _l("DX – digital radiography")),
              ("CT", _l("CT – computed tomography")), ("MR", _l("MR – magnetic resonance")),
              ("MG", _l("MG – mammography")), ("US", _l("US – ultrasound")),
              ("PT", _l("PT – positron emission tomography")), ("NM", _l("NM – nuclear medicine")),
              ("XA", _l("XA – X-ray angiography")), ("RF", _l("RF – fluoroscopy"))]
ATTRIBUTE_LABELS = {"modality": _l("modality"), "body_part": _l("body part"), "age": _l("age"),
                    "sex": _l("sex"), "contrast": _l("contrast"), "sop_class": _l("DICOM SOP class")}
_CODE = re.compile(r"^[A-Z0-9_]{1,16}$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_AGE = [Optional(), NumberRange(0, 150, message=_l("An age from 0 to 150 years."))]


def _choices(pairs) -> list[SelectChoice]:  # noqa: ANN001
    return [SelectChoice(value, label) for value, label in pairs]


def _checkboxes(label, choices, description=None) -> SelectMultipleField:  # noqa: ANN001
    return SelectMultipleField(label, choices=_choices(choices), description=description,
                               option_widget=widgets.CheckboxInput(),
                               widget=widgets.ListWidget(prefix_label=False))


class ToolForm(FlaskForm):
    slug = StringField(_l("Identifier"), validators=[InputRequired(), Length(max=64)],
                       description=_l("Lower-case letters, digits and hyphens, for example bonexpert. "
                                      "Gateways ask for the tool by it; it cannot be changed later."))
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=120)])
    vendor_id = SelectField(_l("Vendor"), coerce=int, validators=[InputRequired()])
    operator_id = SelectField(_l("Platform operator"), coerce=int,
                              description=_l("Who hosts the tool in the central cloud (the first processor)."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])


class ToolEditForm(ToolForm):
    slug = None
    vendor_id = None


class VersionEditForm(FlaskForm):
    released_on = DateField(_l("Released on"), validators=[Optional()])
    mdr_class = SelectField(_l("MDR class"), choices=_choices([("", _l("not recorded"))] + [
        (c, ENUMS["mdr_class"][c]) for c in service.MDR_CLASSES]), validators=[Optional()])
    certificate_number = StringField(_l("CE certificate number"), validators=[Optional(), Length(max=120)])
    notified_body = StringField(_l("Notified body"), validators=[Optional(), Length(max=120)],
                                description=_l("Name and number, for example BSI (2797)."))
    certificate_expires_on = DateField(_l("Certificate valid until"), validators=[Optional()],
                                       description=_l("Without a valid certificate every decision is a deny."))
    modalities = _checkboxes(_l("Modalities"), MODALITIES,
                             _l("The study's modality must be one of these."))
    body_parts = StringField(_l("Body parts"), validators=[Optional(), Length(max=400)],
                             description=_l("DICOM body part codes separated by commas, for example HAND, "
                                            "CHEST. Empty: any body part."))
    age_rule = RadioField(_l("Age"), default="none", choices=_choices([
        ("none", _l("any age")), ("overall", _l("one age range")),
        ("by_sex", _l("an age range for boys/men and one for girls/women"))]))
    age_min = DecimalField(_l("From age (years)"), places=None, validators=_AGE)
    age_max = DecimalField(_l("Up to and including age (years)"), places=None, validators=_AGE)
    male_min = DecimalField(_l("Boys/men from age (years)"), places=None, validators=_AGE)
    male_max = DecimalField(_l("Boys/men up to and including age (years)"), places=None, validators=_AGE)
    female_min = DecimalField(_l("Girls/women from age (years)"), places=None, validators=_AGE)
    female_max = DecimalField(_l("Girls/women up to and including age (years)"), places=None, validators=_AGE)
    contrast = RadioField(_l("Contrast agent"), default="either", choices=_choices(
        [(value, ENUMS["contrast"][value]) for value in ("either", "required", "forbidden")]))
    requires = _checkboxes(_l("The gateway must send"), [(a, ATTRIBUTE_LABELS[a]) for a in ATTRIBUTES],
                           _l("A study without these attributes is outside the intended use."))
    sop_class_uids = TextAreaField(_l("DICOM SOP classes"), validators=[Optional(), Length(max=4000)],
                                   description=_l("One SOP class UID per line; empty: any."))
    notes = TextAreaField(_l("Notes on the intended use"), validators=[Optional(), Length(max=2000)])


class VersionForm(VersionEditForm):
    version = StringField(_l("Version"), validators=[InputRequired(), Length(max=64)],
                          description=_l("As the vendor names it, for example 3.1.2. It cannot be changed later."))
    is_default = BooleanField(_l("Make this the default version"),
                              description=_l("Gateways that name no version get the default one."))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=500)])


# -- the intended use: form fields ⇄ data -----------------------------------------------------------

def _number(value: Decimal | int | float | None) -> int | float | None:
    # The form's own value is a Decimal; one carried over from the stored use is an int or float.
    if value is None:
        return None
    value = Decimal(str(value))
    return int(value) if value == value.to_integral_value() else float(value)


def _bounds(low: Decimal | None, high: Decimal | None, key: str, errors: dict[str, str]) -> dict[str, Any]:
    out = {k: v for k, v in (("min", _number(low)), ("max", _number(high))) if v is not None}
    if not out:
        errors[key] = _("Fill in a minimum age, a maximum age or both.")
    elif "min" in out and "max" in out and out["min"] > out["max"]:
        errors[key] = _("The minimum age is above the maximum age.")
    return out


def spec_from_form(form: VersionEditForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The intended use the form describes, and what is wrong with it, by field."""
    errors: dict[str, str] = {}
    spec: dict[str, Any] = {"modalities": list(form.modalities.data or [])}
    if not spec["modalities"]:
        errors["modalities"] = _("Choose at least one modality.")
    parts = [p.strip().upper() for p in re.split(r"[,\s]+", form.body_parts.data or "") if p.strip()]
    if any(not _CODE.match(p) for p in parts):
        errors["body_parts"] = _("Use DICOM codes: capital letters, digits and _, separated by commas.")
    if parts:
        spec["body_parts"] = parts
    if form.age_rule.data == "overall":
        spec["age_years"] = _bounds(form.age_min.data, form.age_max.data, "age_min", errors)
    elif form.age_rule.data == "by_sex":
        spec["age_years_by_sex"] = {"M": _bounds(form.male_min.data, form.male_max.data, "male_min", errors),
                                    "F": _bounds(form.female_min.data, form.female_max.data, "female_min",
                                                 errors)}
    if form.contrast.data in ("required", "forbidden"):
        spec["contrast"] = form.contrast.data
    if form.requires.data:
        spec["requires"] = list(form.requires.data)
    uids = [u.strip() for u in (form.sop_class_uids.data or "").splitlines() if u.strip()]
    if any(not _UID.match(u) or len(u) > 64 for u in uids):
        errors["sop_class_uids"] = _("One UID per line, digits and dots only.")
    if uids:
        spec["sop_class_uids"] = uids
    if (form.notes.data or "").strip():
        spec["notes"] = form.notes.data.strip()
    return spec, errors


def form_data_from_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The form's fields for a stored intended use (the edit form starts from it)."""
    age, by_sex = spec.get("age_years") or {}, spec.get("age_years_by_sex") or {}
    male, female = by_sex.get("M") or {}, by_sex.get("F") or {}
    return {"modalities": spec.get("modalities") or [], "body_parts": ", ".join(spec.get("body_parts") or []),
            "age_rule": "by_sex" if by_sex else ("overall" if age else "none"),
            "age_min": age.get("min"), "age_max": age.get("max"), "male_min": male.get("min"),
            "male_max": male.get("max"), "female_min": female.get("min"), "female_max": female.get("max"),
            "contrast": spec.get("contrast") or "either", "requires": spec.get("requires") or [],
            "sop_class_uids": "\n".join(spec.get("sop_class_uids") or []), "notes": spec.get("notes") or ""}


# Where a service's complaint about the intended use belongs on the form.
_USE_FIELDS = (("modalit", "modalities"), ("age", "age_rule"), ("contrast", "contrast"),
               ("requires", "requires"))


# The services' field errors (English, as the API returns them) in the user's language.
SERVICE_MESSAGES = {
    "is required": _l("Fill in this field."),
    "lower-case letters, digits and hyphens, at most 64": _l("Use lower-case letters, digits and hyphens "
                                                             "(at most 64)."),
    "another tool has this identifier": _l("Another tool has this identifier."),
    "must be an organisation of kind vendor": _l("Choose a vendor."),
    "must be an organisation of kind platform_operator": _l("Choose a platform operator."),
    "letters, digits and . _ + -, at most 64": _l("Use letters, digits and . _ + - (at most 64)."),
    "this tool already has this version": _l("This tool already has this version."),
    "the version is suspended": _l("The version is already suspended."),
    "the version is active": _l("The version is not suspended."),
    "the version is withdrawn": _l("The version is withdrawn."),
    "at most 120 characters": _l("At most 120 characters."),
    "at most 500 characters": _l("At most 500 characters."),
    "at most 2000 characters": _l("At most 2000 characters."),
}


def put_errors(form: FlaskForm, fields: dict[str, str]) -> None:
    """A service's field errors onto the form's fields (unknown ones onto the first field)."""
    first = next(f for f in form if f.name != "csrf_token")
    for key, message in fields.items():
        message = str(SERVICE_MESSAGES.get(message, message))
        if key == "intended_use":
            key = next((name for word, name in _USE_FIELDS if word in message), "modalities")
        target = getattr(form, key, None) or first
        target.errors = [*target.errors, message]


# -- pages ------------------------------------------------------------------------------------------

def _orgs(kind: str) -> list[SelectChoice]:
    return [SelectChoice(o.id, o.name) for o in db().scalars(select(Organisation).where(Organisation.kind == kind)
                                                 .order_by(Organisation.name))]


def _tool(key: str):  # noqa: ANN202
    return get_row(db(), actor=g.web_actor, otype=TOOLS, key=key)


def _version(tool, version: str):  # noqa: ANN001, ANN202
    return service.get_tool_version(db(), tool=tool, version=version[:64])


def _done(tool, message: str):  # noqa: ANN001, ANN202
    db().commit()
    flash(message, "success")
    return redirect(url_for("web.tools_detail", key=tool.slug))


def _page(template: str, form: FlaskForm, status: int | None = None, **context: Any):  # noqa: ANN202
    if status is None:
        status = 400 if request.method == "POST" else 200
    return render_template(template, form=form, **context), status


@blueprint.route("/tools/new", methods=["GET", "POST"])
@login_required(Permission.TOOLS_WRITE)
def tool_create():
    form = ToolForm()
    form.vendor_id.choices = _orgs("vendor")
    form.operator_id.choices = [SelectChoice(0, _("none"))] + _orgs("platform_operator")
    if form.validate_on_submit():
        try:
            tool = service.create_tool(db(), actor=g.web_actor, clock=registry().clock,
                                       slug=form.slug.data.strip(), name=form.name.data,
                                       vendor_id=form.vendor_id.data, operator_id=form.operator_id.data or None,
                                       description=form.description.data or "")
        except ValidationFailed as exc:
            db().rollback()
            put_errors(form, exc.fields)
        else:
            return _done(tool, _("The tool %(name)s is created.", name=tool.name))
    return _page("tools/tool_form.html", form, heading=_("New tool"), tool=None)


@blueprint.route("/tools/<key>/edit", methods=["GET", "POST"])
@login_required(Permission.TOOLS_WRITE)
def tool_edit(key: str):
    tool = _tool(key)
    form = ToolEditForm(data={"name": tool.name, "description": tool.description,
                              "operator_id": tool.operator_id or 0})
    form.operator_id.choices = [SelectChoice(0, _("none"))] + _orgs("platform_operator")
    if form.validate_on_submit():
        try:
            service.update_tool(db(), actor=g.web_actor, clock=registry().clock, tool_id=tool.id, changes={
                "name": form.name.data, "description": form.description.data or "",
                "operator_id": form.operator_id.data or None})
        except ValidationFailed as exc:
            db().rollback()
            put_errors(form, exc.fields)
        else:
            return _done(tool, _("The tool %(name)s is saved.", name=tool.name))
    return _page("tools/tool_form.html", form, heading=_("Edit %(name)s", name=tool.name), tool=tool)


def _version_values(form: VersionEditForm) -> dict[str, Any]:
    return {"released_on": form.released_on.data, "mdr_class": form.mdr_class.data or None,
            "certificate_number": (form.certificate_number.data or "").strip() or None,
            "notified_body": (form.notified_body.data or "").strip() or None,
            "certificate_expires_on": form.certificate_expires_on.data}


def _save_version(form: VersionEditForm, save) -> bool:  # noqa: ANN001
    """Validate the form and the intended use it describes, then ``save(spec)``; errors onto the form."""
    if not form.validate_on_submit():
        return False
    spec, errors = spec_from_form(form)
    if errors:
        put_errors(form, errors)
        return False
    try:
        save(spec)
    except ValidationFailed as exc:
        db().rollback()
        put_errors(form, exc.fields)
        return False
    return True


@blueprint.route("/tools/<key>/versions/new", methods=["GET", "POST"])
@login_required(Permission.TOOLS_WRITE)
def tool_version_create(key: str):
    tool = _tool(key)
    form = VersionForm()

    def save(spec: dict[str, Any]) -> None:
        service.create_tool_version(db(), actor=g.web_actor, clock=registry().clock, tool_id=tool.id,
                                    version=form.version.data.strip(), intended_use=spec,
                                    is_default=form.is_default.data, **_version_values(form))
    if _save_version(form, save):
        return _done(tool, _("Version %(version)s of %(name)s is added.", version=form.version.data.strip(),
                             name=tool.name))
    return _page("tools/version_form.html", form, tool=tool, version=None,
                 heading=_("New version of %(name)s", name=tool.name))


@blueprint.route("/tools/<key>/versions/<version>/edit", methods=["GET", "POST"])
@login_required(Permission.TOOLS_WRITE)
def tool_version_edit(key: str, version: str):
    tool = _tool(key)
    tv = _version(tool, version)
    form = VersionEditForm(data={
        "released_on": tv.released_on, "mdr_class": tv.mdr_class or "", "certificate_number": tv.certificate_number,
        "notified_body": tv.notified_body, "certificate_expires_on": tv.certificate_expires_on,
        **form_data_from_spec(tv.intended_use or {})})

    def save(spec: dict[str, Any]) -> None:
        service.update_tool_version(db(), actor=g.web_actor, clock=registry().clock, tool_version_id=tv.id,
                                    changes={"intended_use": spec, **_version_values(form)})
    if _save_version(form, save):
        return _done(tool, _("Version %(version)s of %(name)s is saved.", version=tv.version, name=tool.name))
    return _page("tools/version_form.html", form, tool=tool, version=tv,
                 heading=_("Edit version %(version)s of %(name)s", version=tv.version, name=tool.name))


@blueprint.post("/tools/<key>/versions/<version>/default")
@login_required(Permission.TOOLS_WRITE)
def tool_version_default(key: str, version: str):
    tool = _tool(key)
    tv = service.set_default_version(db(), actor=g.web_actor, clock=registry().clock,
                                     tool_version_id=_version(tool, version).id)
    return _done(tool, _("Version %(version)s is now the default of %(name)s.", version=tv.version,
                         name=tool.name))


def _status_page(key: str, version: str, change, heading: str, done):  # noqa: ANN001, ANN202
    tool = _tool(key)
    tv = _version(tool, version)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            change(db(), actor=g.web_actor, clock=registry().clock, tool_version_id=tv.id,
                   reason=form.reason.data)
        except ServiceError as exc:  # a reason missing, or the version not in the state to change
            db().rollback()
            put_errors(form, exc.fields or {"reason": exc.detail})
        else:
            return _done(tool, done(tv.version, tool.name))
    return _page("tools/status_form.html", form, tool=tool, version=tv, heading=heading,
                 suspending=change is service.suspend_tool_version)


@blueprint.route("/tools/<key>/versions/<version>/suspend", methods=["GET", "POST"])
@login_required(Permission.TOOLS_WRITE)
def tool_version_suspend(key: str, version: str):
    return _status_page(key, version, service.suspend_tool_version,
                        _("Suspend version %(version)s", version=version[:64]),
                        lambda v, name: _("Version %(version)s of %(name)s is suspended: the next decision "
                                          "is a deny.", version=v, name=name))


@blueprint.route("/tools/<key>/versions/<version>/reinstate", methods=["GET", "POST"])
@login_required(Permission.TOOLS_WRITE)
def tool_version_reinstate(key: str, version: str):
    return _status_page(key, version, service.reinstate_tool_version,
                        _("Reinstate version %(version)s", version=version[:64]),
                        lambda v, name: _("Version %(version)s of %(name)s is reinstated.", version=v,
                                          name=name))


@blueprint.app_template_global("tool_version_views")
def tool_version_views(tool) -> list[dict[str, Any]]:  # noqa: ANN001
    """Each version of a tool as the detail page shows it: its intended use in sentences and the
    state of its CE certificate on today's date (Amsterdam)."""
    today = term_date(registry().clock.now())
    return [{"row": v, "rules": describe_intended_use(v.intended_use or {}),
             "certificate": certificate_state(v.certificate_expires_on, today)}
            for v in sorted(versions_of(db(), tool), key=lambda v: (not v.is_default, v.version))]
