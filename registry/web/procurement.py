"""The procurement workspace's pages: create and amend framework contracts, exercise an extension
option, create, amend and end call-off licences, the cost allocation of a period, and onboarding and
offboarding a hospital with a preview. Each form calls one service; the rules live there."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice
from wtforms import DateField, DecimalField, IntegerField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from registry.db.contracts import ContractTool, FrameworkContract
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.domain.money import decimal_to_cents
from registry.domain.terms import term_date
from registry.edge import db, registry
from registry.permissions import Permission
from registry.scope import restrict, scope_of
from registry.imports import MAX_BYTES, ImportRefused, read_table, to_csv
from registry.services import allocation as allocation_service
from registry.services import bulk_import
from registry.services import contracts as service
from registry.services import hospitals as hospital_service
from registry.services.errors import Conflict, ValidationFailed
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.sentences import N_, sentence  # services speak English; pages read it translated
from registry.web.views import login_required
from registry.workspace.base import get_row
from registry.workspace.types.contracts import CONTRACTS, LICENCES

SPLIT_RULES = [("equal", _l("equal shares")), ("fixed", _l("fixed percentages")),
               ("pro_rata", _l("in proportion to completed studies"))]


def _choices(pairs) -> list[SelectChoice]:  # noqa: ANN001
    """Choices as wtforms 3.3 wants them (tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]


def _pct_to_bp(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * 100)


def _euros(value: Decimal | None) -> int | None:
    return None if value is None else decimal_to_cents(value)


class ContractForm(FlaskForm):
    reference = StringField(_l("Reference"), validators=[InputRequired(), Length(max=64)])
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=200)])
    vendor_id = SelectField(_l("Vendor"), coerce=int)
    starts_on = DateField(_l("Starts on"), validators=[InputRequired()])
    ends_on = DateField(_l("Ends on (inclusive)"), validators=[InputRequired()])
    tool_id = SelectField(_l("Tool"), coerce=int)
    unit_price = DecimalField(_l("Price per study (EUR, excluding VAT)"), places=2, default=Decimal("0"),
                              validators=[InputRequired(), NumberRange(min=0)])
    overage_price = DecimalField(_l("Price per study beyond the quota (EUR)"), places=2, default=Decimal("0"),
                                 validators=[Optional(), NumberRange(min=0)])
    annual_fee = DecimalField(_l("Annual fixed fee (EUR)"), places=2, default=Decimal("0"),
                              validators=[Optional(), NumberRange(min=0)])
    minimum_commitment = DecimalField(_l("Minimum commitment per year (EUR)"), places=2, default=Decimal("0"),
                                      validators=[Optional(), NumberRange(min=0)])
    ceiling_studies = IntegerField(_l("Ceiling (studies)"), validators=[Optional(), NumberRange(min=0)],
                                   description=_l("What all call-offs together may not exceed; empty: none."))
    ceiling = DecimalField(_l("Ceiling (EUR)"), places=2, validators=[Optional(), NumberRange(min=0)])
    split_rule = SelectField(_l("Split of shared amounts"), choices=_choices(SPLIT_RULES))
    vat = DecimalField(_l("VAT (percent)"), places=2, default=Decimal("21"), validators=[InputRequired(),
                                                                                   NumberRange(0, 100)])
    indexation = DecimalField(_l("Annual indexation (percent)"), places=2, default=Decimal("0"),
                              validators=[Optional(), NumberRange(-99, 100)])
    indexation_on = DateField(_l("First indexation day"), validators=[Optional()])
    extension_months = IntegerField(_l("Extension option (months)"), validators=[Optional(), NumberRange(1, 120)],
                                    description=_l("Leave empty for a contract without an extension option."))


def _contract_form(contract: FrameworkContract | None) -> ContractForm:
    session = db()
    form = ContractForm(obj=None)
    form.vendor_id.choices = _choices([(o.id, o.name) for o in session.scalars(
        select(Organisation).where(Organisation.kind == "vendor").order_by(Organisation.name))])
    form.tool_id.choices = _choices([(t.id, t.name) for t in session.scalars(select(Tool).order_by(Tool.name))])
    if contract is not None:
        del form.reference, form.vendor_id, form.tool_id, form.unit_price, form.overage_price
        del form.annual_fee, form.minimum_commitment, form.extension_months
        if request.method == "GET":
            form.title.data, form.starts_on.data, form.ends_on.data = contract.title, contract.starts_on, contract.ends_on
            form.ceiling_studies.data = contract.ceiling_studies
            form.ceiling.data = None if contract.ceiling_cents is None else Decimal(contract.ceiling_cents) / 100
            form.split_rule.data = contract.split_rule
            form.vat.data = Decimal(contract.vat_bp) / 100
            form.indexation.data = Decimal(contract.indexation_bp) / 100
            form.indexation_on.data = contract.indexation_on
    return form


def _put_errors(form: FlaskForm, exc: ValidationFailed, aliases: dict[str, str] | None = None) -> None:
    """A service's field errors next to the form's fields (the rest at the top)."""
    aliases = aliases or {}
    for key, text in (exc.fields or {"": exc.detail}).items():
        message = sentence(text)  # the service's English, in the user's language where known
        name = aliases.get(key, key.split(".")[0])
        target = getattr(form, name, None) if name else None
        if target is None or not hasattr(target, "errors"):
            form.form_errors.append(message)
        else:
            target.errors = [*target.errors, message]


def _attempt(form: FlaskForm, call, aliases: dict[str, str] | None = None):  # noqa: ANN001, ANN202
    """One service call for a valid form: its result, or None with the refusal at the fields."""
    try:
        return call()
    except (ValidationFailed, Conflict) as exc:  # refused: the form again, with what was typed
        _put_errors(form, exc, aliases)
        return None


def _done(message: str, endpoint: str, key: int):  # noqa: ANN202
    db().commit()
    flash(message, "success")
    return redirect(url_for(endpoint, key=key))


CONTRACT_ALIASES = {"ceiling_cents": "ceiling", "vat_bp": "vat", "indexation_bp": "indexation",
                    "tools": "unit_price", "buyer_ids": "title", "extension_options": "extension_months",
                    "split_shares": "split_rule"}


def _terms(form: ContractForm) -> dict[str, Any]:
    return {"title": form.title.data, "starts_on": form.starts_on.data, "ends_on": form.ends_on.data,
            "ceiling_studies": form.ceiling_studies.data, "ceiling_cents": _euros(form.ceiling.data),
            "split_rule": form.split_rule.data, "vat_bp": _pct_to_bp(form.vat.data),
            "indexation_bp": _pct_to_bp(form.indexation.data), "indexation_on": form.indexation_on.data}


@blueprint.route("/contracts/new", methods=["GET", "POST"])
@login_required(Permission.CONTRACTS_WRITE)
def contracts_new():
    form = _contract_form(None)
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        buyers = list(session.scalars(select(Organisation.id).where(
            Organisation.kind.in_(("consortium", "hospital")), Organisation.status == "active")))
        contract = _attempt(form, lambda: service.create_contract(
                session, actor=g.web_actor, clock=registry().clock, reference=form.reference.data,
                vendor_id=form.vendor_id.data, buyer_ids=buyers,
                tools=[{"tool_id": form.tool_id.data, "unit_price_cents": _euros(form.unit_price.data),
                        "overage_price_cents": _euros(form.overage_price.data) or 0,
                        "annual_fee_cents": _euros(form.annual_fee.data) or 0,
                        "minimum_commitment_cents": _euros(form.minimum_commitment.data) or 0}],
                extension_options=([{"months": form.extension_months.data, "notice_days": 90}]
                                   if form.extension_months.data else []), **_terms(form)), CONTRACT_ALIASES)
        if contract is not None:
            return _done(_("The framework contract %(ref)s is created.", ref=contract.reference),
                         "web.contracts_detail", contract.id)
    status = 400 if request.method == "POST" else 200
    return render_template("procurement/contract_form.html", form=form, contract=None,
                           heading=_("New framework contract")), status


@blueprint.route("/contracts/<key>/edit", methods=["GET", "POST"])
@login_required(Permission.CONTRACTS_WRITE)
def contracts_edit(key: str):
    session = db()
    contract = get_row(session, actor=g.web_actor, otype=CONTRACTS, key=key)
    form = _contract_form(contract)
    if request.method == "POST" and form.validate_on_submit():
        # A refused amendment is rolled back inside the service (a savepoint): nothing is kept.
        if _attempt(form, lambda: service.amend_contract(
                session, actor=g.web_actor, clock=registry().clock, contract_id=contract.id, changes=_terms(form),
                message=N_("amended in the workspace")), CONTRACT_ALIASES) is not None:
            return _done(_("The framework contract %(ref)s is amended.", ref=contract.reference),
                         "web.contracts_detail", contract.id)
    status = 400 if request.method == "POST" else 200
    return render_template("procurement/contract_form.html", form=form, contract=contract,
                           heading=_("Amend %(ref)s", ref=contract.reference)), status


@blueprint.post("/contracts/<key>/extend")
@login_required(Permission.CONTRACTS_WRITE)
def contracts_extend(key: str):
    session = db()
    contract = get_row(session, actor=g.web_actor, otype=CONTRACTS, key=key)
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; please try again."), "error")
        return redirect(url_for("web.contracts_detail", key=contract.id))
    raw = request.form.get("option_index", "")
    try:
        ext = service.exercise_extension(session, actor=g.web_actor, clock=registry().clock, contract_id=contract.id,
                                         option_index=int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else None,
                                         note=request.form.get("note", "")[:500])
    except ValidationFailed as exc:
        flash(_("The option could not be exercised: %(why)s", why=exc.detail), "error")
    else:
        session.commit()
        flash(_("Extension option %(n)s is exercised: the contract now ends on %(day)s.",
                n=ext.option_index + 1, day=ext.new_ends_on.isoformat()), "success")
    return redirect(url_for("web.contracts_detail", key=contract.id))


@blueprint.app_template_global("extension_view")
def extension_view(contract: FrameworkContract) -> list[dict[str, Any]]:
    """Each extension option of a contract: exercised (by whom, when) or still open (with the day
    by which notice must be given)."""
    from registry.workspace.types.contracts import extensions

    done = {e.option_index: e for e in extensions(contract)}
    out, end = [], contract.ends_on
    for index, option in enumerate(contract.extension_options or []):
        ext = done.get(index)
        notice = int(option.get("notice_days", 0) or 0)
        out.append({"index": index, "months": option.get("months"), "notice_days": notice, "exercised": ext,
                    "open": ext is None and all(i in done for i in range(index)),
                    "notice_by": None if ext else date.fromordinal(end.toordinal() - notice)})
    return out


@blueprint.app_template_global("contract_tools")
def _contract_tools(contract: FrameworkContract) -> list[ContractTool]:
    from registry.workspace.types.contracts import contract_tools

    return contract_tools(contract)


@blueprint.app_template_global("licence_usage")
def _licence_usage(licence) -> dict[str, Any]:  # noqa: ANN001
    from registry.services.licence_usage import licence_usage

    return licence_usage(db(), actor=g.web_actor, licence_id=licence.id, today=term_date(registry().clock.now()))


@blueprint.app_template_global("burn_down_chart")
def _burn_down_chart(usage: dict[str, Any]):  # noqa: ANN202
    from registry.reports.svg import line_chart

    return line_chart(usage["points"], usage["quota_limit"], title=_("Quota used over the window"),
                      forecast=usage["runs_out_on"])


@blueprint.get("/usage/reconciliation")
@login_required(Permission.USAGE_READ)
def usage_reconciliation():
    from registry.services.usage import reconciliation

    raw = (request.args.get("period_start") or "").strip()[:10]
    try:
        start = date.fromisoformat(raw) if raw else date(term_date(registry().clock.now()).year, 1, 1)
    except ValueError:
        start, error = None, _("A date, YYYY-MM-DD.")
    else:
        error = None
    rows = reconciliation(db(), actor=g.web_actor, period_start=start) if start else []
    return render_template("procurement/reconciliation.html", rows=rows, period_start=raw or start,
                           error=error), 400 if error else 200


@blueprint.get("/statements")
@login_required(Permission.CONTRACTS_READ)
def statements():
    """A hospital's statement or the consortium's overview for a period: the page, or a PDF, CSV or
    XLSX download (``format``)."""
    from registry.reports.statements import build_statement, render

    session = db()
    own = _own_hospital()
    hospital = request.args.get("hospital", "").strip()[:8] or None
    if own is not None:
        hospital = session.get(Organisation, own).ura
    period = (request.args.get("period") or "").strip()[:7] or str(term_date(registry().clock.now()).year - 1)
    fmt = request.args.get("format", "html")
    try:
        statement = build_statement(session, actor=g.web_actor, period=period, hospital_ura=hospital)
    except ValidationFailed as exc:
        return render_template("procurement/statement.html", statement=None, period=period, hospital=hospital,
                               hospitals=_hospital_choices(), error="; ".join(exc.fields.values()) or exc.detail), 400
    if fmt in ("pdf", "csv", "xlsx"):
        body, media = render(statement, fmt)
        name = f"statement-{hospital or 'consortium'}-{statement.period}.{fmt}"
        return body, 200, {"Content-Type": media, "Content-Disposition": f"attachment; filename={name}",
                           "Cache-Control": "no-store"}
    from registry.reports.svg import bar_chart

    return render_template("procurement/statement.html", statement=statement, period=period, hospital=hospital,
                           hospitals=_hospital_choices(), error=None,
                           chart=bar_chart(statement.usage, title=_("Completed studies per month")))


def _hospital_choices() -> list[tuple[str, str]]:
    return [(o.ura, o.name) for o in db().scalars(restrict(
        select(Organisation).where(Organisation.kind == "hospital").order_by(Organisation.name),
        scope_of(db(), g.web_actor), Organisation))]


@blueprint.get("/contracts/<key>/allocation")
@login_required(Permission.CONTRACTS_READ)
def contracts_allocation(key: str):
    session = db()
    contract = get_row(session, actor=g.web_actor, otype=CONTRACTS, key=key)
    period = (request.args.get("period") or "").strip()[:7] or str(term_date(registry().clock.now()).year - 1)
    result, error = None, None
    try:
        result = allocation_service.allocate_contract(session, actor=g.web_actor, contract_id=contract.id,
                                                      period=period).view(only=_own_hospital())
    except ValidationFailed as exc:
        error = "; ".join(exc.fields.values()) or exc.detail
    return render_template("procurement/allocation.html", contract=contract, period=period, result=result,
                           error=error), 400 if error and request.args.get("period") else 200


def _own_hospital() -> int | None:
    scope = scope_of(db(), g.web_actor)
    return scope.organisation_id if scope.kind == "hospital" else None


# -- licences --------------------------------------------------------------------------------------

class LicenceForm(FlaskForm):
    reference = StringField(_l("Reference"), validators=[InputRequired(), Length(max=64)])
    contract_id = SelectField(_l("Framework contract"), coerce=int)
    hospital_id = SelectField(_l("Hospital"), coerce=int)
    tool_id = SelectField(_l("Tool"), coerce=int)
    starts_on = DateField(_l("Starts on"), validators=[InputRequired()])
    ends_on = DateField(_l("Ends on (inclusive)"), validators=[InputRequired()])
    quota_limit = IntegerField(_l("Quota (studies)"), validators=[Optional(), NumberRange(min=0)],
                               description=_l("Empty: no quota."))
    quota_period = SelectField(_l("Quota period"), choices=_choices([("term", _l("whole term")), ("year", _l("per year")),
                                                                     ("month", _l("per month"))]))
    on_quota_exhausted = SelectField(_l("When the quota is used up"),
                                     choices=_choices([("deny", _l("deny further studies")),
                                                       ("overage", _l("bill as overage"))]))


LICENCE_FIELDS = ("starts_on", "ends_on", "quota_limit", "quota_period", "on_quota_exhausted")


def _licence_form(licence) -> LicenceForm:  # noqa: ANN001
    session = db()
    form = LicenceForm()
    scope = scope_of(session, g.web_actor)
    form.contract_id.choices = _choices([(c.id, c.reference) for c in session.scalars(restrict(
        select(FrameworkContract).order_by(FrameworkContract.reference), scope, FrameworkContract))])
    form.hospital_id.choices = _choices([(o.id, f"{o.name} ({o.ura})") for o in session.scalars(restrict(
        select(Organisation).where(Organisation.kind == "hospital", Organisation.status == "active")
        .order_by(Organisation.name), scope, Organisation))])
    form.tool_id.choices = _choices([(t.id, t.name) for t in session.scalars(select(Tool).order_by(Tool.name))])
    if licence is not None:
        del form.reference, form.contract_id, form.hospital_id, form.tool_id
        if request.method == "GET":
            for name in LICENCE_FIELDS:
                getattr(form, name).data = getattr(licence, name)
    elif request.method == "GET" and _small_int(request.args.get("contract", "")):
        contract = session.get(FrameworkContract, int(request.args["contract"]))
        if contract is not None:
            form.contract_id.data = contract.id
            form.starts_on.data, form.ends_on.data = contract.starts_on, contract.ends_on
            form.tool_id.data = session.scalar(select(ContractTool.tool_id).where(
                ContractTool.contract_id == contract.id).limit(1))
    return form


@blueprint.route("/licences/new", methods=["GET", "POST"])
@login_required(Permission.CONTRACTS_WRITE)
def licences_new():
    form = _licence_form(None)
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        licence = _attempt(form, lambda: service.create_licence(
            session, actor=g.web_actor, clock=registry().clock, reference=form.reference.data,
            contract_id=form.contract_id.data, hospital_id=form.hospital_id.data, tool_id=form.tool_id.data,
            **{n: getattr(form, n).data for n in LICENCE_FIELDS}))
        if licence is not None:
            return _done(_("The licence %(ref)s is created.", ref=licence.reference), "web.licences_detail",
                         licence.id)
    return render_template("procurement/licence_form.html", form=form, licence=None,
                           heading=_("New call-off licence")), 400 if request.method == "POST" else 200


class LicenceImportForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired()],
                     description=_l("A CSV file (comma or semicolon) or an XLSX workbook with one licence per "
                                    "line, at most 5,000 lines; the first row names the columns."))


@blueprint.route("/licences/import", methods=["GET", "POST"])
@login_required(Permission.CONTRACTS_WRITE)
def licences_import():
    form, errors, created = LicenceImportForm(), [], []
    if request.method == "POST" and form.validate_on_submit():
        session = db()
        try:
            table = read_table(form.file.data.read(MAX_BYTES + 1))
            created = bulk_import.import_licences(session, actor=g.web_actor, clock=registry().clock,
                                                  rows=table.rows, columns=table.columns, lines=table.lines,
                                                  errors=table.errors)
        except ImportRefused as exc:
            session.rollback()
            errors = exc.errors
            form.file.errors = [_("The file has %(n)d error(s); nothing was stored.", n=len(exc.errors))]
        else:
            session.commit()
    status = 400 if request.method == "POST" and not created else 200
    return render_template("procurement/licence_import.html", form=form, errors=errors, created=created,
                           columns=bulk_import.LICENCE_COLUMNS), status


@blueprint.get("/licences/import/template.csv")
@login_required(Permission.CONTRACTS_WRITE)
def licences_import_template():
    example = ["LIC-2026-001", "AIFI-FW-EXAMPLE", "12345678", "tool-slug", "2026-01-01", "2026-12-31", "500",
               "year", "deny"]
    return Response(to_csv(list(bulk_import.LICENCE_COLUMNS), [example]), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=licences-template.csv"})


@blueprint.route("/licences/<key>/edit", methods=["GET", "POST"])
@login_required(Permission.CONTRACTS_WRITE)
def licences_edit(key: str):
    session = db()
    licence = get_row(session, actor=g.web_actor, otype=LICENCES, key=key)
    form = _licence_form(licence)
    if request.method == "POST" and form.validate_on_submit():
        changes = {n: getattr(form, n).data for n in LICENCE_FIELDS if getattr(form, n).data != getattr(licence, n)}
        ending_early = changes.keys() == {"ends_on"} and changes["ends_on"] < licence.ends_on
        if request.form.get("action") == "preview":  # what the amendment would do; nothing is saved
            from registry.web.whatif import licence_change

            return render_template("procurement/licence_form.html", form=form, licence=licence,
                                   whatif=licence_change(licence.id, changes),
                                   heading=_("Amend or end %(ref)s", ref=licence.reference))
        if _attempt(form, lambda: service.amend_licence(
                session, actor=g.web_actor, clock=registry().clock, licence_id=licence.id, changes=changes,
                message=N_("amended in the workspace"), action="end_early" if ending_early else "update")) is not None:
            return _done(_("The licence %(ref)s is amended.", ref=licence.reference), "web.licences_detail",
                         licence.id)
    return render_template("procurement/licence_form.html", form=form, licence=licence,
                           heading=_("Amend or end %(ref)s", ref=licence.reference)), \
        400 if request.method == "POST" else 200


# -- onboarding and offboarding ---------------------------------------------------------------------

class OnboardForm(FlaskForm):
    ura = StringField(_l("URA"), validators=[InputRequired(), Regexp(r"^[0-9]{8}$", message=_l("Eight digits."))],
                      description=_l("A hospital that left before is onboarded again under its URA; its history is kept."))
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=200)])
    starts_on = DateField(_l("First day"), validators=[Optional()])
    contract_ids = SelectMultipleField(_l("Framework contracts"), coerce=int, option_widget=widgets.CheckboxInput(),
                                       widget=widgets.ListWidget(prefix_label=False),
                                       description=_l("A call-off for every tool of each chosen contract."))
    quota_limit = IntegerField(_l("Quota per year (studies)"), validators=[Optional(), NumberRange(min=0)])


class OffboardForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[InputRequired(), Length(max=500)])
    last_day = DateField(_l("Last day"), validators=[Optional()])


@blueprint.route("/hospitals/onboard", methods=["GET", "POST"])
@login_required(Permission.ORGANISATIONS_WRITE)
def hospitals_onboard():
    session = db()
    form = OnboardForm()
    form.contract_ids.choices = _choices([(c.id, f"{c.reference} — {c.title}") for c in session.scalars(
        select(FrameworkContract).where(FrameworkContract.status == "active").order_by(FrameworkContract.reference))])
    plan = None
    if request.method == "POST" and form.validate_on_submit():
        confirm = request.form.get("action") == "confirm"
        try:
            plan = hospital_service.onboard_hospital(
                session, actor=g.web_actor, clock=registry().clock, ura=form.ura.data, name=form.name.data,
                starts_on=form.starts_on.data, preview=not confirm,
                calloffs=[{"contract_id": c, "quota_limit": form.quota_limit.data} for c in form.contract_ids.data])
        except ValidationFailed as exc:
            _put_errors(form, exc, {"calloffs": "contract_ids"})
        else:
            session.commit()
            if confirm:
                org = session.scalar(select(Organisation).where(Organisation.ura == form.ura.data))
                flash(_("%(name)s is onboarded.", name=org.name), "success")
                return render_template("procurement/onboard.html", form=form, plan=plan, done=org)
    status = 400 if request.method == "POST" and form.errors else 200
    return render_template("procurement/onboard.html", form=form, plan=plan, done=None), status


@blueprint.route("/organisations/<key>/offboard", methods=["GET", "POST"])
@login_required(Permission.ORGANISATIONS_WRITE)
def organisations_offboard(key: str):
    from registry.workspace import OBJECT_TYPES

    session = db()
    org = get_row(session, actor=g.web_actor, otype=OBJECT_TYPES["organisations"], key=key)
    form = OffboardForm()
    plan, error = None, None
    if org.kind != "hospital" or org.status == "offboarded":
        error = _("Only a hospital that takes part can be offboarded.")
    elif request.method == "POST" and form.validate_on_submit():
        confirm = request.form.get("action") == "confirm"
        try:
            plan = hospital_service.offboard_hospital(session, actor=g.web_actor, clock=registry().clock,
                                                      ura=org.ura, reason=form.reason.data,
                                                      last_day=form.last_day.data, preview=not confirm)
        except ValidationFailed as exc:
            _put_errors(form, exc, {"ura": "reason"})
        else:
            session.commit()
            if confirm:
                flash(_("%(name)s is offboarded.", name=org.name), "success")
                return redirect(url_for("web.organisations_detail", key=org.id))
    return render_template("procurement/offboard.html", form=form, org=org, plan=plan, error=error), \
        400 if request.method == "POST" and (form.errors or error) else 200


def _small_int(raw: str) -> bool:
    """An id from a query or form: ASCII digits only (``"²".isdigit()`` is true) and bounded."""
    return raw.isascii() and raw.isdigit() and len(raw) < 19
