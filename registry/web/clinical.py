"""Clinical governance pages: the deployer's checklist, the go-live approval, suspension and
resumption, incidents and their duties, field-safety notices, webhook subscriptions. Rules live in
registry.services.deployments / incidents / webhooks; this module parses, calls and renders."""

from __future__ import annotations

from datetime import date

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice
from wtforms import (DateField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField,
                     widgets)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from registry.db.clinical import Deployment, Incident, IncidentDuty
from registry.db.tools import ToolVersion
from registry.domain.deployment import missing_items
from registry.edge import db, registry
from registry.permissions import Permission
from registry.scope import scope_of
from registry.services import deployments as deployment_service
from registry.services import incidents as incident_service
from registry.services import webhooks as webhook_service
from registry.services.errors import Conflict, NotFound, ValidationFailed
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.views import login_required
from registry.workspace.labels import ENUMS, label
from registry.workspace.types.clinical import tool_options
from registry.workspace.types.gateways import hospital_options

def _sc(pairs) -> list[SelectChoice]:  # noqa: ANN001
    """(value, label) pairs as WTForms choices (tuples are deprecated there)."""
    return [SelectChoice(value, label) for value, label in pairs]


_APPLICABLE = [("", _l("not yet recorded")), ("no", _l("not applicable")), ("yes", _l("applicable"))]


class ChecklistForm(FlaskForm):
    hospital_id = SelectField(_l("Hospital"), validators=[InputRequired()])
    tool_id = SelectField(_l("Tool"), validators=[InputRequired()])
    versions = StringField(_l("Versions covered"), validators=[Length(max=300)],
                           description=_l("The tool versions this go-live covers, separated by commas."))
    ifu_document = StringField(_l("Instructions for use (Art. 26(1))"), validators=[Length(max=300)],
                               description=_l("The document on file, for example its name and revision."))
    ifu_sha256 = StringField(_l("SHA-256 of the instructions"), validators=[Length(max=64)],
                             description=_l("64 hexadecimal characters."))
    overseers = TextAreaField(_l("Human overseers (Art. 26(2), Art. 4)"), validators=[Length(max=3000)],
                              description=_l("One per line: name; role; date of AI-literacy training "
                                             "(YYYY-MM-DD)."))
    dpia_reference = StringField(_l("DPIA reference (Art. 26(9))"), validators=[Length(max=120)])
    dpia_date = DateField(_l("DPIA date"), validators=[Optional()])
    works_council_informed_on = DateField(_l("Works council informed on (Art. 26(7))"), validators=[Optional()])
    acceptance_cases = IntegerField(_l("Acceptance test: number of cases"),
                                    validators=[Optional(), NumberRange(0, 1_000_000)])
    acceptance_agreement_pct = IntegerField(_l("Acceptance test: agreement with radiologists (%)"),
                                            validators=[Optional(), NumberRange(0, 100)])
    acceptance_date = DateField(_l("Acceptance test: date"), validators=[Optional()])
    acceptance_by = StringField(_l("Acceptance test: by whom"), validators=[Length(max=200)])
    monitoring_plan = TextAreaField(_l("Monitoring plan (Art. 26(5))"), validators=[Length(max=2000)])
    art27_applicable = SelectField(_l("Fundamental-rights impact assessment (Art. 27)"), choices=_sc(_APPLICABLE))
    art49_applicable = SelectField(_l("EU database registration (Art. 49)"), choices=_sc(_APPLICABLE))


def _overseers_text(overseers: list[dict]) -> str:
    return "\n".join(f"{o.get('name', '')}; {o.get('role', '')}; {o.get('trained_on') or ''}" for o in overseers)


def _overseers_parse(text: str) -> list[dict]:
    out = []
    for line in (text or "").splitlines():
        if line.strip():
            parts = [p.strip() for p in line.split(";")] + ["", ""]
            out.append({"name": parts[0], "role": parts[1], "trained_on": parts[2] or None})
    return out


def _tri(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _checklist_values(form: ChecklistForm) -> dict:
    return {
        "versions": [v.strip() for v in (form.versions.data or "").split(",") if v.strip()],
        "ifu_document": form.ifu_document.data or None, "ifu_sha256": form.ifu_sha256.data or None,
        "overseers": _overseers_parse(form.overseers.data), "dpia_reference": form.dpia_reference.data or None,
        "dpia_date": form.dpia_date.data, "works_council_informed_on": form.works_council_informed_on.data,
        "acceptance_cases": form.acceptance_cases.data, "acceptance_agreement_pct": form.acceptance_agreement_pct.data,
        "acceptance_date": form.acceptance_date.data, "acceptance_by": form.acceptance_by.data or None,
        "monitoring_plan": form.monitoring_plan.data or None,
        "art27_applicable": _tri(form.art27_applicable.data), "art49_applicable": _tri(form.art49_applicable.data),
    }


def _fill(form: ChecklistForm, d: Deployment) -> None:
    form.versions.data = ", ".join(d.versions or [])
    for key in ("ifu_document", "ifu_sha256", "dpia_reference", "dpia_date", "works_council_informed_on",
                "acceptance_cases", "acceptance_agreement_pct", "acceptance_date", "acceptance_by",
                "monitoring_plan"):
        getattr(form, key).data = getattr(d, key)
    form.overseers.data = _overseers_text(d.overseers or [])
    for key in ("art27_applicable", "art49_applicable"):
        value = getattr(d, key)
        getattr(form, key).data = "" if value is None else ("yes" if value else "no")


def _field_errors(form: FlaskForm, exc: ValidationFailed, fallback: str) -> None:
    # The service names the fields; its messages are English, so the page says which field is wrong
    # in the user's language and keeps the service's detail beside it.
    for key, message in exc.fields.items():
        target = getattr(form, key, None) or getattr(form, fallback)
        target.errors = [*target.errors, _("Not accepted: %(detail)s", detail=message)]


def _choices(form: ChecklistForm) -> None:
    session = db()
    scope = scope_of(session, g.web_actor)
    form.hospital_id.choices = _sc(hospital_options(session, scope))
    form.tool_id.choices = _sc(tool_options(session, scope))


@blueprint.route("/deployments/new", methods=["GET", "POST"])
@login_required(Permission.DEPLOYMENTS_WRITE)
def deployment_create():
    form = ChecklistForm()
    _choices(form)
    if form.validate_on_submit():
        session = db()
        try:
            dep = deployment_service.create_deployment(
                session, actor=g.web_actor, clock=registry().clock, hospital_id=int(form.hospital_id.data),
                tool_id=int(form.tool_id.data), **_checklist_values(form))
        except (ValidationFailed, Conflict) as exc:
            session.rollback()
            _field_errors(form, exc, "tool_id")
        else:
            session.commit()
            flash(_("The deployment is recorded as a draft."), "success")
            return redirect(url_for("web.deployments_detail", key=dep.id))
    status = 400 if request.method == "POST" else 200
    return render_template("clinical/checklist_form.html", form=form, deployment=None), status


@blueprint.route("/deployments/<int:deployment_id>/edit", methods=["GET", "POST"])
@login_required(Permission.DEPLOYMENTS_WRITE)
def deployment_edit(deployment_id: int):
    session = db()
    dep = deployment_service.get_deployment(session, actor=g.web_actor, deployment_id=deployment_id)
    form = ChecklistForm()
    # Hospital and tool are fixed once recorded: not part of this form.
    del form.hospital_id, form.tool_id
    if request.method == "GET":
        _fill(form, dep)
    elif form.validate_on_submit():
        try:
            deployment_service.update_checklist(session, actor=g.web_actor, clock=registry().clock,
                                                deployment_id=dep.id, changes=_checklist_values(form))
        except ValidationFailed as exc:
            session.rollback()
            _field_errors(form, exc, "versions")
        else:
            session.commit()
            flash(_("The checklist is saved."), "success")
            return redirect(url_for("web.deployments_detail", key=dep.id))
    status = 400 if request.method == "POST" else 200
    return render_template("clinical/checklist_form.html", form=form, deployment=dep), status


def _transition(deployment_id: int, action: str):  # noqa: ANN202
    session = db()
    reason = (request.form.get("reason") or "").strip()[:500]
    kw = {"actor": g.web_actor, "clock": registry().clock, "deployment_id": deployment_id}
    try:
        if action == "approve":
            deployment_service.approve_deployment(session, note=reason, **kw)
            message = _("Go-live approved: clinical care may now be routed to this tool.")
        elif action == "suspend":
            deployment_service.suspend_deployment(session, reason=reason, **kw)
            message = _("The deployment is suspended, from the next decision on.")
        else:
            deployment_service.resume_deployment(session, reason=reason, **kw)
            message = _("The deployment is resumed.")
    except Conflict as exc:
        session.rollback()
        if "approver" in exc.fields:
            flash(_("Whoever filled in (part of) the checklist cannot approve it; another clinical owner must."),
                  "error")
        else:
            flash(_("This is not possible in the deployment's current state."), "error")
    except ValidationFailed as exc:
        session.rollback()
        if "checklist" in exc.fields:
            dep = session.get(Deployment, deployment_id)
            flash(_("The checklist is incomplete: %(items)s.",
                    items=", ".join(label("checklist", m) for m in missing_items(dep))), "error")
        else:
            flash(_("Give a reason."), "error")
    else:
        session.commit()
        flash(message, "success")
    return redirect(url_for("web.deployments_detail", key=deployment_id))


@blueprint.post("/deployments/<int:deployment_id>/approve")
@login_required(Permission.DEPLOYMENTS_APPROVE)
def deployment_approve(deployment_id: int):
    return _transition(deployment_id, "approve")


@blueprint.post("/deployments/<int:deployment_id>/suspend")
@login_required(Permission.DEPLOYMENTS_APPROVE)
def deployment_suspend(deployment_id: int):
    return _transition(deployment_id, "suspend")


@blueprint.post("/deployments/<int:deployment_id>/resume")
@login_required(Permission.DEPLOYMENTS_APPROVE)
def deployment_resume(deployment_id: int):
    return _transition(deployment_id, "resume")


# -- incidents --------------------------------------------------------------------------------------

def _enum_choices(enum: str) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in ENUMS[enum].items()]


class IncidentForm(FlaskForm):
    hospital_id = SelectField(_l("Hospital"), validators=[Optional()])
    tool_id = SelectField(_l("Tool"), validators=[InputRequired()])
    tool_version_id = SelectField(_l("Version"), validators=[Optional()],
                                  description=_l("Needed to suspend a version for every hospital."))
    kind = SelectField(_l("Kind"), validators=[InputRequired()])
    severity = SelectField(_l("Severity (serious incidents)"), validators=[Optional()],
                           description=_l("Sets the MDR Art. 87 reporting period."))
    description = TextAreaField(_l("What happened"), validators=[InputRequired(), Length(max=4000)])
    occurred_on = DateField(_l("Occurred on"), validators=[InputRequired()])
    aware_on = DateField(_l("Known since"), validators=[InputRequired()],
                         description=_l("The legal periods run from this day."))
    action = SelectField(_l("Suspension"), validators=[InputRequired()])


@blueprint.route("/incidents/new", methods=["GET", "POST"])
@login_required(Permission.INCIDENTS_WRITE)
def incident_create():
    session = db()
    scope = scope_of(session, g.web_actor)
    form = IncidentForm()
    form.hospital_id.choices = _sc(([] if not scope.national else [("", _("every hospital"))])
                                   + hospital_options(session, scope))
    tools = dict(tool_options(session, scope))
    form.tool_id.choices = _sc(tools.items())
    versions = session.scalars(select(ToolVersion).order_by(ToolVersion.tool_id, ToolVersion.version))
    form.tool_version_id.choices = _sc([("", "—")] + [(str(v.id), f"{tools.get(str(v.tool_id), '')} {v.version}")
                                                      for v in versions if str(v.tool_id) in tools])
    form.kind.choices = _sc(_enum_choices("incident_kind"))
    form.severity.choices = _sc([("", "—")] + _enum_choices("severity"))
    form.action.choices = _sc(_enum_choices("incident_action"))
    if request.method == "GET":
        form.hospital_id.data = request.args.get("hospital", "")
        form.tool_id.data = request.args.get("tool", "")
        from registry.domain.terms import term_date

        form.occurred_on.data = form.aware_on.data = term_date(registry().clock.now())
    if form.validate_on_submit():
        try:
            incident = incident_service.report_incident(
                session, actor=g.web_actor, clock=registry().clock, kind=form.kind.data,
                severity=form.severity.data or None, tool_id=int(form.tool_id.data),
                hospital_id=int(form.hospital_id.data) if form.hospital_id.data else None,
                tool_version_id=int(form.tool_version_id.data) if form.tool_version_id.data else None,
                description=form.description.data, occurred_on=form.occurred_on.data,
                aware_on=form.aware_on.data, action=form.action.data)
        except ValidationFailed as exc:
            session.rollback()
            _field_errors(form, exc, "description")
        else:
            session.commit()
            flash(_("Incident %(ref)s is recorded.", ref=incident.reference), "success")
            return redirect(url_for("web.incidents_detail", key=incident.reference))
    status = 400 if request.method == "POST" else 200
    return render_template("clinical/incident_form.html", form=form), status


@blueprint.post("/incidents/duties/<int:duty_id>")
@login_required(Permission.INCIDENTS_WRITE)
def incident_duty_record(duty_id: int):
    session = db()
    duty = session.get(IncidentDuty, duty_id)
    incident = session.get(Incident, duty.incident_id) if duty else None
    if incident is None:
        raise NotFound(f"no incident duty {duty_id}")
    try:
        told_on = date.fromisoformat((request.form.get("told_on") or "")[:10])
    except ValueError:
        told_on = None
    try:
        if told_on is None:
            raise ValidationFailed("invalid record", {"told_on": "a date"})
        incident_service.record_duty(session, actor=g.web_actor, clock=registry().clock, duty_id=duty_id,
                                     told_whom=(request.form.get("told_whom") or "")[:300],
                                     told_what=(request.form.get("told_what") or "")[:2000], told_on=told_on)
    except ValidationFailed:
        session.rollback()
        flash(_("Record who was told, what, and on which day (not in the future)."), "error")
    else:
        session.commit()
        flash(_("Recorded: %(duty)s.", duty=label("duty", duty.duty)), "success")
    return redirect(url_for("web.incidents_detail", key=incident.reference))


@blueprint.post("/incidents/<int:incident_id>/close")
@login_required(Permission.INCIDENTS_WRITE)
def incident_close(incident_id: int):
    session = db()
    incident = incident_service.get_incident(session, actor=g.web_actor, incident_id=incident_id)
    try:
        incident_service.close_incident(session, actor=g.web_actor, clock=registry().clock, incident_id=incident.id,
                                        conclusion=(request.form.get("conclusion") or "")[:2000])
    except ValidationFailed as exc:
        session.rollback()
        if "duties" in exc.fields:
            flash(_("Record every duty before closing the incident."), "error")
        elif "status" in exc.fields:
            flash(_("The incident is already closed."), "error")
        else:
            flash(_("Say what was concluded (at most %(n)s characters).", n=incident_service.CONCLUSION_MAX),
                  "error")
    else:
        session.commit()
        flash(_("Incident %(ref)s is closed. A suspension stays in force until it is lifted on its own.",
                ref=incident.reference), "success")
    return redirect(url_for("web.incidents_detail", key=incident.reference))


class NoticeForm(FlaskForm):
    reference = StringField(_l("Reference"), validators=[InputRequired(), Length(max=80)])
    tool_id = SelectField(_l("Tool"), validators=[InputRequired()])
    versions = StringField(_l("Versions"), validators=[InputRequired(), Length(max=300)],
                           description=_l("The versions the notice concerns, separated by commas."))
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=300)])
    issued_on = DateField(_l("Issued on"), validators=[InputRequired()])
    summary = TextAreaField(_l("Summary"), validators=[Length(max=4000)])
    document_sha256 = StringField(_l("SHA-256 of the notice"), validators=[Length(max=64)])


@blueprint.route("/field_safety_notices/new", methods=["GET", "POST"])
@login_required(Permission.INCIDENTS_WRITE)
def field_safety_notice_create():
    session = db()
    form = NoticeForm()
    form.tool_id.choices = _sc(tool_options(session, scope_of(session, g.web_actor)))
    if form.validate_on_submit():
        try:
            notice = incident_service.record_field_safety_notice(
                session, actor=g.web_actor, clock=registry().clock, reference=form.reference.data,
                tool_id=int(form.tool_id.data),
                versions=[v.strip() for v in form.versions.data.split(",") if v.strip()],
                title=form.title.data, issued_on=form.issued_on.data, summary=form.summary.data or "",
                document_sha256=form.document_sha256.data or None)
        except (ValidationFailed, Conflict) as exc:
            session.rollback()
            _field_errors(form, exc, "reference")
        else:
            session.commit()
            return redirect(url_for("web.field_safety_notices_detail", key=notice.reference))
    status = 400 if request.method == "POST" else 200
    return render_template("clinical/notice_form.html", form=form), status


# -- webhooks ---------------------------------------------------------------------------------------

class WebhookForm(FlaskForm):
    url = StringField(_l("Address (URL)"), validators=[InputRequired(), Length(max=500)],
                      description=_l("https; plain http only on this machine (loopback)."))
    events = SelectMultipleField(_l("Events"), option_widget=widgets.CheckboxInput(),
                                 widget=widgets.ListWidget(prefix_label=False), validators=[InputRequired()])
    organisation_id = SelectField(_l("Organisation"), validators=[Optional()],
                                  description=_l("Only this organisation's events; empty: every event."))


def _webhook_page(form: WebhookForm, created=None, status: int = 200):  # noqa: ANN001, ANN202
    from registry.db.webhooks import WebhookDelivery, WebhookSubscription

    session = db()
    subs = list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))
    deliveries = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc())
                                      .limit(50)))
    return render_template("clinical/webhooks.html", form=form, subscriptions=subs, deliveries=deliveries,
                           created=created), status


def _webhook_form() -> WebhookForm:
    session = db()
    form = WebhookForm()
    form.events.choices = _sc([(e, e) for e in webhook_service.EVENTS])
    form.organisation_id.choices = _sc([("", "—")] + hospital_options(session, scope_of(session, g.web_actor)))
    return form


@blueprint.route("/webhooks", methods=["GET", "POST"])
@login_required(Permission.GATEWAYS_MANAGE)
def webhooks():
    form = _webhook_form()
    if request.method == "POST":
        if form.validate_on_submit():
            session = db()
            try:
                sub, secret = webhook_service.create_subscription(
                    session, actor=g.web_actor, clock=registry().clock,
                    secret_key=registry().settings.secret_key, url=form.url.data, events=form.events.data,
                    organisation_id=int(form.organisation_id.data) if form.organisation_id.data else None)
            except ValidationFailed as exc:
                session.rollback()
                _field_errors(form, exc, "url")
                return _webhook_page(form, status=400)
            session.commit()
            # Rendered, not redirected: the secret never passes through the (cookie) session.
            return _webhook_page(_webhook_form(), created={"url": sub.url, "secret": secret})
        return _webhook_page(form, status=400)
    return _webhook_page(form)


# -- template helpers (the dashboard panel and the incident page) ----------------------------------

@blueprint.app_template_global("overdue_duties")
def _overdue_duties():  # noqa: ANN202
    """Overdue incident duties for the dashboard panel (None: the person may not read them)."""
    actor = g.get("web_actor")
    if actor is None or not actor.can(Permission.DEPLOYMENTS_READ):
        return None
    return incident_service.overdue_duties(db(), actor=actor, clock=registry().clock)


@blueprint.app_template_global("incident_duties")
def _incident_duties(incident: Incident) -> list[IncidentDuty]:
    return incident_service.duties_of(db(), incident)


@blueprint.app_template_global("today_term")
def _today_term() -> date:
    from registry.domain.terms import term_date

    return term_date(registry().clock.now())


@blueprint.app_template_filter("deployment_title")
def _deployment_title(d: Deployment) -> str:
    from registry.workspace.types.clinical import _title

    return _title(d)
