"""Single sign-on pages: sign in through one's organisation's OpenID Connect provider, and the
admin pages that register those providers. Protocol in registry.auth.oidc, rules in
registry.services.identity_providers; this module only parses, calls and renders."""

from __future__ import annotations

import hmac
import logging

from flask import abort, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from registry.auth import oidc
from registry.edge import db, registry, request_id
from registry.permissions import Permission
from registry.services import identity_providers as service
from registry.services.errors import NotFound, ValidationFailed
from registry.web import blueprint
from registry.web.i18n import _, _l
from registry.web.views import login_required, public

log = logging.getLogger("registry.sso")

# The pages' texts live beside them; they join the one catalogue at import.
# The texts are in registry/translations/nl/LC_MESSAGES/sso.po.
FIELD_LABELS = {"organisation_id": _l("Organisation"), "issuer": _l("Issuer (URL)"), "client_id": _l("Client id"),
                "client_secret": _l("Client secret"), "roles_claim": _l("Claim carrying roles"),
                "role_mapping": _l("Role mapping"), "active": _l("Active"), "secret_set_at": _l("Secret set at")}
FIELD_HINTS = {
    "issuer": _l("The configuration is read from <issuer>/.well-known/openid-configuration."),
    "client_secret": _l("Stored encrypted and never shown again. When editing, leave it empty to keep the "
                        "current one."),
    "roles_claim": _l("For example roles, groups or realm_access.roles."),
    "role_mapping": _l("One line per provider role: provider-role = registry-role, registry-role. Without a "
                       "matching role a new user gets the viewer role. Roles: "),
}
_PROTOCOL = _l("The identity provider's answer is invalid or has expired. Please try to log in again.")
_NO_EMAIL = _l("The identity provider sent no (verified) e-mail address.")
# Why a sign-in was refused, by the reason codes of registry.auth.oidc and the service.
REFUSALS = {
    "OTHER_ORGANISATION": _l("This account belongs to another organisation; this identity provider cannot "
                             "sign you in."),
    "LINKED_ELSEWHERE": _l("This account is already linked to another account at the identity provider."),
    "USER_DISABLED": _l("This account is disabled."),
    "NO_EMAIL": _NO_EMAIL, "EMAIL_NOT_VERIFIED": _NO_EMAIL,
    "PROTOCOL": _PROTOCOL, "BAD_SUBJECT": _PROTOCOL,
    "UNAVAILABLE": _l("The identity provider cannot be reached right now."),
}



@blueprint.app_context_processor
def _sso_login_options():
    # Called by templates/_sso_login.html only, so other pages run no query for it.
    return {"sso_login_options": lambda: service.login_options(db())}


def _provider_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        abort(404)
    return int(raw)


def _local_path(target: str | None) -> str:
    # Only local paths: never an open redirect. Browsers read "/\\host" like "//host", so no
    # backslashes, and no control characters that could split the Location header.
    target = target or ""
    local = (target.startswith("/") and not target.startswith("//") and "\\" not in target
             and target.isprintable())
    return target if local else url_for("web.index")


def _redirect_uri(provider_id: int) -> str:
    # The registry's public URL, not the request's Host header: the provider checks it exactly.
    return registry().settings.issuer.rstrip("/") + url_for("web.sso_callback", provider_id=provider_id)


def _refused(reason: str, status: int, provider_id: int, detail: str = ""):  # noqa: ANN202
    # Reason codes and our own texts only: never a code, token, secret or e-mail address.
    log.warning("single sign-on failed: provider=%s reason=%s %s", provider_id, reason, detail)
    db().rollback()
    message = str(REFUSALS.get(reason, REFUSALS["PROTOCOL"]))
    return render_template("sso/refused.html", message=message), status


def _oidc_failure(exc: oidc.OidcError, provider_id: int):  # noqa: ANN202
    # The provider broken or away is a bad gateway; a bad answer to this attempt is a bad request.
    if exc.code.startswith("PROVIDER_"):
        return _refused("UNAVAILABLE", 502, provider_id, f"{exc.code}: {exc.detail}")
    return _refused(exc.code, 400, provider_id, exc.detail)


@blueprint.get("/sso/<provider_id>/login")
@public()
def sso_start(provider_id: str):
    pid = _provider_id(provider_id)
    try:
        client = service.provider_client(db(), provider_id=pid, secret_key=registry().settings.secret_key)
        metadata = oidc.discover(client.issuer)
    except NotFound:
        abort(404)
    except service.ProviderUnavailable:
        return _refused("UNAVAILABLE", 503, pid)
    except oidc.OidcError as exc:
        return _oidc_failure(exc, pid)
    login_state = oidc.new_login_state()
    session["sso"] = {**login_state, "provider_id": pid, "next": _local_path(request.args.get("next"))}
    return redirect(oidc.authorization_url(metadata, client_id=client.client_id,
                                           redirect_uri=_redirect_uri(pid), login_state=login_state))


@blueprint.get("/sso/<provider_id>/callback")
@public()
def sso_callback(provider_id: str):
    pid = _provider_id(provider_id)
    # One attempt per start: popped whatever happens next, so a callback cannot be replayed.
    pending = session.pop("sso", None)
    state = request.args.get("state", "")
    if (not pending or pending.get("provider_id") != pid
            or not hmac.compare_digest(state.encode(), pending["state"].encode())):
        return _refused("STATE_MISMATCH", 400, pid)
    if "error" in request.args or not request.args.get("code"):
        return _refused("PROVIDER_ERROR", 400, pid)
    reg = registry()
    try:
        client = service.provider_client(db(), provider_id=pid, secret_key=reg.settings.secret_key)
        # RFC 9207: if the provider names itself in the response, it must be the one we asked.
        if request.args.get("iss", client.issuer) != client.issuer:
            return _refused("ISSUER_MISMATCH", 400, pid)
        metadata = oidc.discover(client.issuer)
        id_token = oidc.exchange_code(metadata, client_id=client.client_id,
                                      client_secret=client.client_secret,
                                      redirect_uri=_redirect_uri(pid), code=request.args["code"],
                                      code_verifier=pending["code_verifier"])
        claims = oidc.validate_id_token(id_token, keys=oidc.fetch_keys(metadata), issuer=client.issuer,
                                        client_id=client.client_id, nonce=pending["nonce"],
                                        now=int(reg.clock.now().timestamp()))
        user = service.sign_in_with_provider(db(), clock=reg.clock, provider_id=pid, claims=claims,
                                             request_id=request_id())
    except NotFound:
        abort(404)
    except service.ProviderUnavailable:
        return _refused("UNAVAILABLE", 503, pid)
    except service.SignInRefused as exc:
        return _refused(exc.reason, 403, pid)
    except oidc.OidcError as exc:
        return _oidc_failure(exc, pid)
    from registry.web.login import begin_session

    begin_session(user, method="sso")  # a server-side session and a fresh cookie (no fixation)
    db().commit()
    return redirect(_local_path(pending.get("next")))


class ProviderForm(FlaskForm):
    organisation_id = SelectField(coerce=int, validators=[Optional()])
    issuer = StringField(validators=[DataRequired(), Length(max=500)])
    client_id = StringField(validators=[DataRequired(), Length(max=255)])
    client_secret = PasswordField(validators=[Optional(), Length(max=512)])
    roles_claim = StringField(default="roles", validators=[DataRequired(), Length(max=120)])
    role_mapping = TextAreaField(validators=[Optional(), Length(max=10_000)])
    active = BooleanField(default=True)


def parse_role_mapping(text: str) -> dict[str, list[str]]:
    """``provider-role = role, role`` per line into a mapping; a malformed line is a field error."""
    mapping: dict[str, list[str]] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        value, sep, roles = line.partition("=")
        names = [r.strip() for r in roles.replace(",", " ").split()]
        if not sep or not value.strip() or not names:
            raise ValidationFailed("invalid role mapping",
                                   {"role_mapping": f"line {number}: write provider-role = registry-role"})
        mapping.setdefault(value.strip(), []).extend(names)
    return mapping


def format_role_mapping(mapping: dict[str, list[str]]) -> str:
    return "\n".join(f"{value} = {', '.join(roles)}" for value, roles in sorted(mapping.items()))


def _form_errors(form: ProviderForm) -> dict[str, str]:
    return {name: _("Fill in this field.") if "required" in errors[0].lower() else errors[0]
            for name, errors in form.errors.items() if name != "csrf_token"}


def _render_form(form: ProviderForm, errors: dict[str, str], *, organisation: object = None,
                 status: int = 200):  # noqa: ANN202
    heading = _("Edit identity provider") if organisation else _("Register an identity provider")
    return render_template("sso/provider_form.html", form=form, errors=errors, organisation=organisation,
                           heading=heading, roles=service.PROVIDER_ASSIGNABLE_ROLES,
                           labels=FIELD_LABELS, hints=FIELD_HINTS), status


@blueprint.get("/sso/providers")
@login_required(Permission.USERS_MANAGE)
def sso_providers():
    return render_template("sso/providers.html",
                           providers=service.list_identity_providers(db(), actor=g.web_actor),
                           format_role_mapping=format_role_mapping)


@blueprint.route("/sso/providers/new", methods=["GET", "POST"])
@login_required(Permission.USERS_MANAGE)
def sso_provider_new():
    form = ProviderForm()
    form.organisation_id.choices = [
        (o.id, o.name) for o in service.organisations_without_provider(db(), actor=g.web_actor)]
    if not form.validate_on_submit():
        return _render_form(form, _form_errors(form), status=400 if request.method == "POST" else 200)
    try:
        service.register_identity_provider(
            db(), actor=g.web_actor, clock=registry().clock, secret_key=registry().settings.secret_key,
            organisation_id=form.organisation_id.data or 0, issuer=form.issuer.data.strip(),
            client_id=form.client_id.data.strip(), client_secret=form.client_secret.data or "",
            roles_claim=form.roles_claim.data.strip(), role_mapping=parse_role_mapping(form.role_mapping.data),
            active=form.active.data)
    except ValidationFailed as exc:
        db().rollback()
        return _render_form(form, exc.fields, status=400)
    db().commit()
    return redirect(url_for("web.sso_providers"))


@blueprint.route("/sso/providers/<provider_id>/edit", methods=["GET", "POST"])
@login_required(Permission.USERS_MANAGE)
def sso_provider_edit(provider_id: str):
    try:
        provider, organisation = service.get_identity_provider(db(), actor=g.web_actor,
                                                               provider_id=_provider_id(provider_id))
    except NotFound:
        abort(404)
    form = ProviderForm(data={"issuer": provider.issuer, "client_id": provider.client_id,
                              "roles_claim": provider.roles_claim, "active": provider.active,
                              "role_mapping": format_role_mapping(provider.role_mapping)})
    del form.organisation_id  # a provider belongs to its organisation for good
    if not form.validate_on_submit():
        return _render_form(form, _form_errors(form), organisation=organisation,
                            status=400 if request.method == "POST" else 200)
    try:
        service.update_identity_provider(
            db(), actor=g.web_actor, clock=registry().clock, secret_key=registry().settings.secret_key,
            provider_id=provider.id, changes={
                "issuer": form.issuer.data.strip(), "client_id": form.client_id.data.strip(),
                "client_secret": form.client_secret.data or "", "roles_claim": form.roles_claim.data.strip(),
                "role_mapping": parse_role_mapping(form.role_mapping.data), "active": form.active.data})
    except ValidationFailed as exc:
        db().rollback()
        return _render_form(form, exc.fields, organisation=organisation, status=400)
    db().commit()
    return redirect(url_for("web.sso_providers"))
