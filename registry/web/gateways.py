"""Gateway pages beyond list and detail: register (the secret shown once), rotate the credential,
suspend, reactivate, revoke. A new secret is rendered in the POST's own response and never put in
the session (a cookie) or a flash message."""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from registry.db.organisations import GatewayStatus
from registry.edge import db, registry
from registry.permissions import Permission
from registry.scope import scope_of
from registry.services import gateways as service
from registry.services.errors import ValidationFailed
from registry.web import blueprint
from registry.web.forms import submit
from registry.web.i18n import _, _l
from registry.web.organisations import status_page
from registry.web.views import login_required
from registry.workspace import OBJECT_TYPES
from registry.workspace.base import get_row

_METHODS = [("client_secret_basic", _l("A client secret, generated now and shown once")),
            ("private_key_jwt", _l("A public key (private_key_jwt): the gateway keeps its private key"))]
_JWK_HINT = _l("The public key as a JWK in JSON, Ed25519 (OKP) or P-256 (EC). Only with a public key.")


class CredentialForm(FlaskForm):
    method = RadioField(_l("How the gateway proves who it is"), default="client_secret_basic",
                        validate_choice=False)
    public_jwk = TextAreaField(_l("Public key (JWK)"), validators=[Length(max=2000, message=_l("This is too long."))], description=_JWK_HINT)


def _credential_form(form_class: type[CredentialForm]) -> CredentialForm:
    form = form_class()
    form.method.choices = _METHODS  # set here, not in the class: WTForms 3.3 warns on class-level tuples
    return form


class GatewayForm(CredentialForm):
    # Hospital and name are checked by the service (one rule for the UI and the API).
    hospital_id = SelectField(_l("Hospital"), validate_choice=False)
    name = StringField(_l("Name"), description=_l("How the hospital knows this machine, for example “PACS router 1”."))


def _public_jwk(form: CredentialForm) -> dict | None:
    """The key pasted in the form, or None for a secret; a field error if it is not a JSON object."""
    if form.method.data != "private_key_jwt":
        return None
    try:
        key = json.loads(form.public_jwk.data or "")
    except ValueError:
        key = None
    if not isinstance(key, dict):
        raise ValidationFailed("invalid public key", {"jwk": "not JSON"})
    return key


def _secret_page(gateway, secret: str | None, heading: str):  # noqa: ANN001, ANN202
    return render_template("admin/gateway_secret.html", gateway=gateway, secret=secret, heading=heading,
                           token_url=registry().settings.issuer.rstrip("/") + "/oauth/token")


@blueprint.route("/gateways/new", methods=["GET", "POST"])
@login_required(Permission.GATEWAYS_MANAGE)
def gateway_create():
    from registry.workspace.types.gateways import hospital_options  # after the types are loaded

    session = db()
    form = _credential_form(GatewayForm)
    # Only the hospitals the actor may see: a hospital's admin registers for their own hospital.
    form.hospital_id.choices = [("", _("Choose a hospital"))] + hospital_options(
        session, scope_of(session, g.web_actor))
    if request.method == "GET" and request.args.get("hospital"):
        form.hospital_id.data = request.args["hospital"]
    if not form.validate_on_submit():
        return render_template("admin/gateway_form.html", form=form), 400 if request.method == "POST" else 200
    raw = form.hospital_id.data or ""
    ok, created = submit(form, lambda: service.register_gateway(
        session, actor=g.web_actor, clock=registry().clock, name=form.name.data,
        hospital_id=int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else -1,
        public_jwk=_public_jwk(form)),
        aliases={"hospital": "hospital_id", "jwk": "public_jwk"})
    if not ok:
        return render_template("admin/gateway_form.html", form=form), 400
    gateway, secret = created
    if secret is None:
        flash(_("The gateway %(name)s is registered with its public key.", name=gateway.name), "success")
        return redirect(url_for("web.gateways_detail", key=gateway.id))
    return _secret_page(gateway, secret, _("Gateway %(name)s is registered", name=gateway.name))


def _gateway(key: str):  # noqa: ANN202
    return get_row(db(), actor=g.web_actor, otype=OBJECT_TYPES["gateways"], key=key)


@blueprint.route("/gateways/<key>/rotate", methods=["GET", "POST"])
@login_required(Permission.GATEWAYS_MANAGE)
def gateways_rotate(key: str):
    gateway = _gateway(key)
    form = _credential_form(CredentialForm)
    if not form.validate_on_submit():
        return render_template("admin/gateway_rotate.html", form=form, gateway=gateway), \
            400 if request.method == "POST" else 200
    ok, rotated = submit(form, lambda: service.rotate_credential(
        db(), actor=g.web_actor, clock=registry().clock, client_id=gateway.client_id,
        public_jwk=_public_jwk(form)), aliases={"jwk": "public_jwk"}, fallback="method")
    if not ok:
        return render_template("admin/gateway_rotate.html", form=form, gateway=gateway), 400
    gateway, secret = rotated
    if secret is None:
        flash(_("The gateway %(name)s now uses the new public key; the old credential no longer works.",
                name=gateway.name), "success")
        return redirect(url_for("web.gateways_detail", key=gateway.id))
    return _secret_page(gateway, secret, _("New secret for %(name)s", name=gateway.name))


GATEWAY_MOVES = {GatewayStatus.ACTIVE: ("suspended", "revoked"), GatewayStatus.SUSPENDED: ("active", "revoked"),
                 GatewayStatus.REVOKED: ()}


@blueprint.route("/gateways/<key>/status", methods=["GET", "POST"])
@login_required(Permission.GATEWAYS_MANAGE)
def gateways_status(key: str):
    gateway = _gateway(key)
    return status_page("gateways", gateway, GATEWAY_MOVES[GatewayStatus(gateway.status)],
                       lambda to, reason: service.set_gateway_status(
                           db(), actor=g.web_actor, clock=registry().clock, client_id=gateway.client_id,
                           status=to, reason=reason))
