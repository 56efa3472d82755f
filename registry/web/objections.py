"""The privacy officer's pages for patients' objections: register one, withdraw it (history kept),
upload a CSV file or FHIR Bundle (all lines or none; a key rotation replaces the whole set), export
the set as FHIR, and the data-subject access lookup (audited). Each calls one service in
registry.services.objections; the list and detail are the generic object pages."""

from __future__ import annotations

import json

from flask import Response, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import InputRequired, Length, Optional

from registry.db.consent import Purpose
from registry.edge import db, registry
from registry.permissions import Permission
from registry.scope import scope_of
from registry.services import objections as service
from registry.services.errors import NotFound, ValidationFailed
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.views import login_required
from registry.workspace.types.gateways import hospital_options

_PSEUDONYM_HINT = _l("64 hexadecimal characters: HMAC-SHA256 of the patient's DICOM PatientID with your hospital's "
                     "key (see the documentation). Never a BSN or a name.")
MAX_UPLOAD = 5 * 1024 * 1024


def _purpose_choices() -> list[tuple[str, str]]:
    dutch = str(get_locale()) == "nl"
    return [(p.code, p.label_nl if dutch else p.label_en)
            for p in db().scalars(select(Purpose).where(Purpose.active).order_by(Purpose.code))]


def _hospitals() -> list[tuple[int, str]]:
    return [(int(k), v) for k, v in hospital_options(db(), scope_of(db(), g.web_actor))]


class ObjectionForm(FlaskForm):
    hospital_id = SelectField(_l("Hospital"), coerce=int, validators=[InputRequired()])
    pseudonym = StringField(_l("Pseudonym"), validators=[InputRequired(), Length(max=128)], description=_PSEUDONYM_HINT)
    purposes = SelectMultipleField(_l("Purposes objected to"), option_widget=widgets.CheckboxInput(),
                                   widget=widgets.ListWidget(prefix_label=False))
    recorded_on = DateField(_l("Recorded on"), validators=[Optional()], description=_l("Leave empty for today."))


def _fields_onto(form: FlaskForm, exc: ValidationFailed, fallback: str) -> None:
    for key, message in exc.fields.items():
        target = form[key] if key in form else form[fallback]
        target.errors = [*target.errors, message]


@blueprint.route("/objections/new", methods=["GET", "POST"])
@login_required(Permission.OBJECTIONS_WRITE)
def objections_new():
    form = ObjectionForm()
    form.hospital_id.choices = _hospitals()
    form.purposes.choices = _purpose_choices()
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        try:
            rows = service.record_objection(session, actor=g.web_actor, clock=registry().clock,
                                            hospital_id=form.hospital_id.data, pseudonym=form.pseudonym.data or "",
                                            purposes=form.purposes.data or [], recorded_on=form.recorded_on.data)
        except ValidationFailed as exc:
            session.rollback()
            _fields_onto(form, exc, "pseudonym")
            return render_template("objections/new.html", form=form), 400
        session.commit()
        return redirect(url_for("web.objections_detail", key=rows[0].id))
    return render_template("objections/new.html", form=form), 400 if request.method == "POST" else 200


@blueprint.post("/objections/<key>/withdraw")
@login_required(Permission.OBJECTIONS_WRITE)
def objections_withdraw(key: str):
    if not key.isascii() or not key.isdigit() or len(key) > 18:
        raise NotFound(f"no objection {key[:20]}")
    session = db()
    service.withdraw_objection(session, actor=g.web_actor, clock=registry().clock, objection_id=int(key),
                               reason=(request.form.get("reason") or "withdrawn by the patient")[:200])
    session.commit()
    return redirect(url_for("web.objections_detail", key=key))


class UploadForm(FlaskForm):
    hospital_id = SelectField(_l("Hospital"), coerce=int, validators=[InputRequired()])
    file = FileField(_l("File"), validators=[FileRequired()],
                     description=_l("A CSV file with the columns pseudonym,purpose,recorded_on, or a FHIR R4 Bundle "
                                    "of Consent resources (provision.type deny) as JSON."))
    replace = BooleanField(_l("Replace all current objections of this hospital (after a key rotation)"))


@blueprint.route("/objections/upload", methods=["GET", "POST"])
@login_required(Permission.OBJECTIONS_WRITE)
def objections_upload():
    form = UploadForm()
    form.hospital_id.choices = _hospitals()
    result, errors = None, []
    if request.method == "POST" and form.validate_on_submit():
        content = form.file.data.read(MAX_UPLOAD + 1)
        fmt = "fhir" if content.lstrip()[:1] == b"{" else "csv"  # sniffed: a Bundle is a JSON object
        session = db()
        try:
            if len(content) > MAX_UPLOAD:
                raise ValidationFailed("file too large", {"file": _("At most 5 MB.")})
            result = service.import_objections(session, actor=g.web_actor, clock=registry().clock,
                                               hospital_id=form.hospital_id.data, fmt=fmt, content=content,
                                               replace=form.replace.data)
        except service.UploadRefused as exc:
            session.rollback()
            errors = exc.errors
            form.file.errors = [_("The file has %(n)d error(s); nothing was stored.", n=len(exc.errors))]
        except ValidationFailed as exc:
            session.rollback()
            _fields_onto(form, exc, "file")
        else:
            session.commit()
        status = 200 if result else 400
        return render_template("objections/upload.html", form=form, result=result, errors=errors), status
    status = 400 if request.method == "POST" else 200
    return render_template("objections/upload.html", form=form, result=None, errors=[]), status


@blueprint.get("/objections/export.fhir.json")
@login_required(Permission.OBJECTIONS_READ)
def objections_fhir_export():
    bundle = service.export_objections(db(), actor=g.web_actor, fmt="fhir", include_withdrawn=True)
    return Response(json.dumps(bundle, ensure_ascii=False, indent=1), content_type="application/fhir+json",
                    headers={"Content-Disposition": "attachment; filename=objections.fhir.json",
                             "Cache-Control": "no-store"})


class AccessForm(FlaskForm):
    pseudonym = StringField(_l("Pseudonym"), validators=[InputRequired(), Length(max=128)], description=_PSEUDONYM_HINT)


@blueprint.route("/objections/access", methods=["GET", "POST"])
@login_required(Permission.OBJECTIONS_READ)
def objections_access():
    """Data-subject access request: a POST (never a link), since every lookup is audited."""
    form = AccessForm()
    report = None
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        try:
            report = service.subject_access(session, actor=g.web_actor, clock=registry().clock,
                                            pseudonym=form.pseudonym.data)
        except ValidationFailed as exc:
            session.rollback()
            _fields_onto(form, exc, "pseudonym")
            return render_template("objections/access.html", form=form, report=None), 400
        session.commit()  # the audit entry of the lookup
        if request.form.get("export") == "csv":
            return Response(_access_csv(report), content_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": "attachment; filename=access-request.csv",
                                     "Cache-Control": "no-store"})
    status = 400 if request.method == "POST" and report is None else 200
    return render_template("objections/access.html", form=form, report=report), status


def _access_csv(report) -> str:  # noqa: ANN001
    import csv
    import io

    from registry.api.objections import access_row
    from registry.workspace.base import Names

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = ["decided_at", "hospital", "tool", "purpose", "outcome", "reasons", "objection_applied"]
    writer.writerow(columns)
    names = Names(db())
    for d in report.decisions:
        row = access_row(d, names)
        writer.writerow([row[c] if c != "reasons" else " ".join(row[c]) for c in columns])
    return out.getvalue()
