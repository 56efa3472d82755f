"""The legal workspace's forms on the agreement pages: draft and edit the terms, move an agreement
through its lifecycle, the reviewer's journal, sub-processors (Art. 28(2)) and the deletion or return
at the end. Each form calls one service in registry.services.agreements; the pages themselves are
the generic object pages (registry/workspace/types/agreements.py)."""

from __future__ import annotations

from typing import Any, Callable

from flask import abort, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import (DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField,
                     TextAreaField, widgets)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from registry.db.consent import Purpose
from registry.db.organisations import Organisation
from registry.domain.agreements import (ART28_ELEMENTS, CLAUSE_KEYS, EDITABLE, TRANSITIONS, Status, allowed_from,
                                        checklist)
from registry.edge import db, registry
from registry.permissions import Permission
from registry.scope import scope_of
from registry.services import agreements as service
from registry.services.errors import ValidationFailed
from registry.web import blueprint
from flask_babel import get_locale

from registry.web.i18n import _, _l
from registry.web.views import login_required
from registry.workspace.types.agreements import subprocessors
from registry.workspace.types.gateways import hospital_options

CLAUSE_LABELS = {
    "duration": _l("Duration (if not given by the dates)"),
    "instructions": _l("Processing only on documented instructions (Art. 28(3)(a))"),
    "confidentiality": _l("Confidentiality of staff (Art. 28(3)(b))"),
    "security": _l("Security measures, Art. 32 (Art. 28(3)(c))"),
    "subprocessors": _l("Sub-processors only with prior written authorisation (Art. 28(3)(d))"),
    "data_subject_rights": _l("Assistance with data subjects' rights (Art. 28(3)(e))"),
    "assistance": _l("Assistance with Arts. 32–36: security, breach notification, DPIA (Art. 28(3)(f))"),
    "audits": _l("Information, audits and inspections (Art. 28(3)(h))"),
}
_LINES = _l("One per line.")


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class TermsForm(FlaskForm):
    """The terms of an agreement (the edit form leaves out the parties and the reference)."""

    reference = StringField(_l("Reference"), validators=[InputRequired(), Length(max=64)],
                            description=_l("For example VWO-12345678-2."))
    controller_id = SelectField(_l("Controller (hospital)"), coerce=int, validators=[InputRequired()])
    processor_id = SelectField(_l("Processor"), coerce=int, validators=[InputRequired()],
                               description=_l("The first processor in the chain, usually the platform operator."))
    subject = TextAreaField(_l("Subject"), validators=[Length(max=1000)])
    model = StringField(_l("Model agreement"), validators=[Optional(), Length(max=120)],
                        description=_l("For example BoZ verwerkersovereenkomst 2022."))
    purposes = SelectMultipleField(_l("Purposes"), option_widget=widgets.CheckboxInput(),
                                   widget=widgets.ListWidget(prefix_label=False))
    data_categories = TextAreaField(_l("Categories of personal data"), description=_LINES)
    data_subjects = TextAreaField(_l("Data subjects"), description=_LINES)
    processing_locations = TextAreaField(_l("Processing locations"), description=_LINES)
    transfer_mechanism = StringField(_l("Transfer mechanism"), validators=[Optional(), Length(max=200)])
    retention = StringField(_l("Retention"), validators=[Optional(), Length(max=500)])
    deletion_terms = TextAreaField(_l("Deletion or return at the end (Art. 28(3)(g))"),
                                   validators=[Optional(), Length(max=1000)])
    breach_notification_hours = IntegerField(_l("Breach notification (hours)"),
                                             validators=[Optional(), NumberRange(1, 24 * 30)])
    security_certificate = StringField(_l("Security certificate"), validators=[Optional(), Length(max=200)],
                                       description=_l("For example NEN 7510 / ISO 27001 with its number."))
    security_certificate_expires_on = DateField(_l("Certificate valid until"), validators=[Optional()])
    effective_on = DateField(_l("Effective from"), validators=[Optional()])
    ends_on = DateField(_l("Ends on (inclusive)"), validators=[Optional()],
                        description=_l("Leave empty for an agreement that runs until terminated."))


for _key in CLAUSE_KEYS:
    setattr(TermsForm, f"clause_{_key}", TextAreaField(CLAUSE_LABELS[_key], validators=[Length(max=4000)]))

_TERM_FIELDS = ("subject", "model", "purposes", "data_categories", "data_subjects", "processing_locations",
                "transfer_mechanism", "retention", "deletion_terms", "breach_notification_hours",
                "security_certificate", "security_certificate_expires_on", "effective_on", "ends_on")


def _terms_from(form: TermsForm) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _TERM_FIELDS:
        value = form[name].data
        if name in ("data_categories", "data_subjects", "processing_locations"):
            value = _lines(value)
        elif name == "purposes":
            value = list(value or [])  # none ticked is an empty list, never NULL
        elif isinstance(value, str):
            value = value.strip() if name == "subject" else (value.strip() or None)
        out[name] = value
    out["subject"] = out["subject"] or ""
    out["clauses"] = {k: form[f"clause_{k}"].data.strip() for k in CLAUSE_KEYS if (form[f"clause_{k}"].data or "").strip()}
    return out


def _put_errors(form: FlaskForm, exc: ValidationFailed, fallback: str) -> None:
    """The service's field errors beside their fields (unknown ones on ``fallback``)."""
    for key, message in exc.fields.items():
        target = form[key] if key in form else form[fallback]
        target.errors = [*target.errors, message]


def _terms_form(obj: Any = None, *, with_parties: bool) -> TermsForm:
    session = db()
    form = TermsForm(obj=obj) if obj is not None and request.method == "GET" else TermsForm()
    dutch = str(get_locale()) == "nl"
    form.purposes.choices = [(p.code, p.label_nl if dutch else p.label_en)
                             for p in session.scalars(select(Purpose).where(Purpose.active).order_by(Purpose.code))]
    if with_parties:
        # The controller is a hospital the person's scope shows (their own, for a hospital's
        # people); the processors are the suppliers, whose names are public.
        form.controller_id.choices = [(int(k), v) for k, v in hospital_options(session, scope_of(session, g.web_actor))]
        form.processor_id.choices = [(o.id, o.name) for o in session.scalars(
            select(Organisation).where(Organisation.kind != "hospital").order_by(Organisation.name))]
    else:
        del form.reference, form.controller_id, form.processor_id
    if obj is not None and request.method == "GET":
        for name in ("data_categories", "data_subjects", "processing_locations"):
            form[name].data = "\n".join(getattr(obj, name) or [])
        for key in CLAUSE_KEYS:
            form[f"clause_{key}"].data = (obj.clauses or {}).get(key, "")
    return form


def _agreement(key: str):  # noqa: ANN202
    if not key.isascii() or not key.isdigit() or len(key) > 18:
        abort(404)
    return service.get_agreement(db(), actor=g.web_actor, agreement_id=int(key))


def _detail(dpa) -> Any:  # noqa: ANN001
    return redirect(url_for("web.agreements_detail", key=dpa.id))


def _page(template: str, status: int = 200, **context: Any):  # noqa: ANN202
    return render_template(f"agreements/{template}", clause_keys=CLAUSE_KEYS, **context), status


# The small forms' headings and buttons.
_SMALL_FORMS = {"journal": (_l("Add a note to the reviewer's journal"), _l("Add to the journal")),
                "subprocessor": (_l("Add a sub-processor"), _l("Add with this approval")),
                "deletion": (_l("Record deletion or return"), _l("Record")),
                "document": (_l("Upload a signed copy"), _l("Upload"))}


def _small_form(form: FlaskForm, dpa, which: str, status: int):  # noqa: ANN001, ANN202
    heading, submit = _SMALL_FORMS[which]
    return _page("form.html", status, form=form, dpa=dpa, heading=heading, submit=submit)


def _handle_small_form(form: FlaskForm, dpa, which: str, fallback: str, anchor: str,  # noqa: ANN001
                       call: Callable[[Any], Any]):  # noqa: ANN202
    """Show the small form, or on a valid POST call the service, commit and go back to the agreement;
    the service's refusals go next to their fields."""
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        try:
            call(session)
        except ValidationFailed as exc:
            session.rollback()
            _put_errors(form, exc, fallback)
            return _small_form(form, dpa, which, 400)
        session.commit()
        return redirect(url_for("web.agreements_detail", key=dpa.id) + anchor)
    return _small_form(form, dpa, which, 400 if request.method == "POST" else 200)


@blueprint.route("/agreements/new", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_new():
    form = _terms_form(with_parties=True)
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        try:
            # Born a draft: the form has no status, the machine moves it on from here.
            dpa = service.create_agreement(session, actor=g.web_actor, clock=registry().clock,
                                           reference=form.reference.data, controller_id=form.controller_id.data,
                                           processor_id=form.processor_id.data, **_terms_from(form))
        except ValidationFailed as exc:
            session.rollback()
            _put_errors(form, exc, "reference")
            return _page("terms.html", 400, form=form, dpa=None)
        session.commit()
        return _detail(dpa)
    return _page("terms.html", 400 if request.method == "POST" else 200, form=form, dpa=None)


@blueprint.route("/agreements/<key>/edit", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_edit(key: str):
    dpa = _agreement(key)
    form = _terms_form(dpa, with_parties=False)
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        try:
            service.update_agreement(session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id,
                                     changes=_terms_from(form))
        except ValidationFailed as exc:
            session.rollback()
            _put_errors(form, exc, "subject")
            return _page("terms.html", 400, form=form, dpa=dpa)
        session.commit()
        return _detail(dpa)
    return _page("terms.html", 400 if request.method == "POST" else 200, form=form, dpa=dpa)


class TransitionForm(FlaskForm):
    to = HiddenField()
    note = TextAreaField(_l("Note or reason"), validators=[Length(max=500)])
    signed_on = DateField(_l("Signed on"), validators=[Optional()])
    effective_on = DateField(_l("Effective from"), validators=[Optional()])
    ends_on = DateField(_l("Ends on (inclusive)"), validators=[Optional()])
    terminated_on = DateField(_l("Terminated on"), validators=[Optional()])
    deletion_due_on = DateField(_l("Data to be deleted or returned by"), validators=[Optional()],
                                description=_l("GDPR Art. 28(3)(g): the processor's deadline."))


# Which dated fields each target state shows (the rest of the machine's needs are checked there).
_TRANSITION_FIELDS = {Status.SIGNED: ("signed_on", "effective_on", "ends_on"),
                      Status.TERMINATED: ("terminated_on", "deletion_due_on")}


@blueprint.route("/agreements/<key>/transition", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_transition(key: str):
    dpa = _agreement(key)
    allowed = allowed_from(dpa.status)
    form = TransitionForm()
    to = form.to.data if request.method == "POST" else request.args.get("to", "")
    if to not in allowed:
        to = allowed[0] if len(allowed) == 1 else ""
    form.to.data = to
    # Reinstating a suspended agreement needs no dates: it is signed already.
    shown = () if dpa.status == Status.SUSPENDED else _TRANSITION_FIELDS.get(to, ())
    context = {"form": form, "dpa": dpa, "to": to, "allowed": allowed, "shown": shown,
               "actions": {target: TRANSITIONS[(dpa.status, target)].action for target in allowed},
               "missing": [i.key for i in checklist(service.terms_of(dpa)) if not i.present]}
    if request.method == "POST" and to and form.validate_on_submit():
        session = db()
        try:
            service.transition_agreement(session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id,
                                         to=to, note=form.note.data or "",
                                         **{name: form[name].data for name in shown})
        except ValidationFailed as exc:
            session.rollback()
            _put_errors(form, exc, "note")
            return _page("transition.html", 400, **context)
        session.commit()
        return _detail(dpa)
    if request.method == "POST" and not to:
        form.note.errors = [_("Choose what to do.")]
    return _page("transition.html", 400 if request.method == "POST" else 200, **context)


class NoteForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[InputRequired(), Length(max=4000)],
                         description=_l("For the reviewers: what was checked, what is open. Kept with author and time."))


@blueprint.route("/agreements/<key>/journal", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_journal(key: str):
    dpa = _agreement(key)
    form = NoteForm()
    return _handle_small_form(form, dpa, "journal", "note", "#journal", lambda session: service.add_agreement_note(
        session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id, note=form.note.data))


class SubProcessorForm(FlaskForm):
    organisation_id = SelectField(_l("Organisation"), coerce=int, validators=[InputRequired()])
    role = StringField(_l("Role"), validators=[Optional(), Length(max=200)],
                       description=_l("What it does, for example hosting or the AI model."))
    location = StringField(_l("Location"), validators=[Optional(), Length(max=120)])
    approved_on = DateField(_l("Approved by the controller on"), validators=[Optional()])
    approval_reference = StringField(_l("Where the approval is recorded"), validators=[Optional(), Length(max=500)],
                                     description=_l("GDPR Art. 28(2): the controller's prior written "
                                                    "authorisation, for example a letter or minutes."))


@blueprint.route("/agreements/<key>/subprocessors", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_subprocessors(key: str):
    dpa = _agreement(key)
    form = SubProcessorForm()
    form.organisation_id.choices = [(o.id, o.name) for o in db().scalars(
        select(Organisation).where(Organisation.kind != "hospital").order_by(Organisation.name))]
    return _handle_small_form(form, dpa, "subprocessor", "organisation_id", "#subprocessors",
                              lambda session: service.add_subprocessor(
                                  session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id,
                                  organisation_id=form.organisation_id.data, role=form.role.data or "",
                                  location=form.location.data or "", approved_on=form.approved_on.data,
                                  approval_reference=form.approval_reference.data or ""))


@blueprint.post("/agreements/<key>/subprocessors/<int:sid>/remove")
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_subprocessor_remove(key: str, sid: int):
    dpa = _agreement(key)
    session = db()
    service.remove_subprocessor(session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id,
                                subprocessor_id=sid, note=(request.form.get("note") or "")[:500])
    session.commit()
    return redirect(url_for("web.agreements_detail", key=dpa.id) + "#subprocessors")


class DeletionForm(FlaskForm):
    done_on = DateField(_l("Deleted or returned on"), validators=[InputRequired()])
    evidence = TextAreaField(_l("Evidence"), validators=[InputRequired(), Length(max=1000)],
                             description=_l("For example the processor's certificate of deletion."))


@blueprint.route("/agreements/<key>/deletion", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_deletion(key: str):
    dpa = _agreement(key)
    form = DeletionForm()
    return _handle_small_form(form, dpa, "deletion", "evidence", "", lambda session: service.record_deletion(
        session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id, done_on=form.done_on.data,
        evidence=form.evidence.data))


@blueprint.get("/agreements/<key>/document.pdf")
@login_required(Permission.AGREEMENTS_READ)
def agreements_pdf_export(key: str):
    """The agreement as a PDF from the current terms: Dutch, or English with ?lang=en."""
    from registry.api.agreements import pdf_response
    from registry.reports.agreements import agreement_pdf

    dpa = _agreement(key)
    data = service.document_data(db(), actor=g.web_actor, agreement_id=dpa.id)
    lang = "en" if request.args.get("lang") == "en" else "nl"
    return pdf_response(agreement_pdf(data, lang), f"{dpa.reference}.pdf")


class DocumentForm(FlaskForm):
    file = FileField(_l("Signed PDF"), validators=[FileRequired()],
                     description=_l("A PDF of at most 10 MB. Every upload is kept as a new version with its SHA-256."))


@blueprint.route("/agreements/<key>/documents", methods=["GET", "POST"])
@login_required(Permission.AGREEMENTS_WRITE)
def agreements_documents(key: str):
    dpa = _agreement(key)
    form = DocumentForm()
    return _handle_small_form(form, dpa, "document", "file", "#documents", lambda session: (
        service.upload_agreement_document(session, actor=g.web_actor, clock=registry().clock, agreement_id=dpa.id,
                                          filename=form.file.data.filename or "",
                                          content=form.file.data.read(service.MAX_DOCUMENT_BYTES + 1),
                                          trust_anchors=registry().trust_anchors)))


@blueprint.get("/agreements/<key>/documents/<int:n>.pdf")
@login_required(Permission.AGREEMENTS_READ)
def agreements_document_export(key: str, n: int):
    from registry.api.agreements import pdf_response

    dpa = _agreement(key)
    doc, content = service.agreement_document(db(), actor=g.web_actor, agreement_id=dpa.id, version=n)
    return pdf_response(content, doc.filename)


@blueprint.app_template_global("agreement_panel")
def agreement_panel(dpa) -> dict[str, Any]:  # noqa: ANN001
    """What the agreement page shows beside its fields: the checklist, the journal, the sub-processors,
    the signed copies with their signatures and the transitions the person may start."""
    session = db()
    articles = {key: article for key, article, _test in ART28_ELEMENTS}
    documents = service.agreement_documents(session, actor=g.web_actor, agreement_id=dpa.id)
    signatures = service.agreement_signatures(session, actor=g.web_actor, agreement_id=dpa.id)
    return {"checklist": [(i, articles[i.key]) for i in checklist(service.terms_of(dpa))],
            "journal": service.journal(session, actor=g.web_actor, agreement_id=dpa.id),
            "documents": documents,
            "versions": {d.id: d.version for d in documents},
            "signatures": signatures,
            "signed_by": {s.party for s, counted in signatures if counted},
            "parties": [("controller", session.get(Organisation, dpa.controller_id).name),
                        ("processor", session.get(Organisation, dpa.processor_id).name)],
            "subprocessors": subprocessors(dpa),
            "allowed": allowed_from(dpa.status), "actions": {to: TRANSITIONS[(dpa.status, to)].action
                                                             for to in allowed_from(dpa.status)},
            "can_write": g.web_actor.can(Permission.AGREEMENTS_WRITE),
            "editable": dpa.status in EDITABLE}
