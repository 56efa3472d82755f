"""The audit trail viewer (auditors, privacy officers, admins): filter, an object's history, export."""

from __future__ import annotations

from flask import Response, flash, g, render_template, request

from registry.audit.export import FILENAMES
from registry.edge import db, registry
from registry.permissions import Permission
from registry.services import audit as service
from registry.services.errors import ValidationFailed
from registry.validation import query_int
from registry.web import blueprint
from registry.web.i18n import MESSAGES, translate
from registry.web.views import login_required

# The viewer's texts live beside it; they join the one catalogue at import.
MESSAGES.update({
    "audit.title": {"nl": "Auditlog", "en": "Audit trail"},
    "audit.history": {"nl": "Geschiedenis van", "en": "History of"},
    "audit.organisation": {"nl": "Organisatie (id)", "en": "Organisation (id)"},
    "audit.actor": {"nl": "Actor", "en": "Actor"},
    "audit.object_type": {"nl": "Soort object", "en": "Object type"},
    "audit.object_id": {"nl": "Object-id", "en": "Object id"},
    "audit.action": {"nl": "Actie", "en": "Action"},
    "audit.from": {"nl": "Van", "en": "From"},
    "audit.to": {"nl": "Tot en met", "en": "Up to and including"},
    "audit.filter": {"nl": "Filteren", "en": "Filter"},
    "audit.time": {"nl": "Tijdstip", "en": "Time"},
    "audit.event": {"nl": "Gebeurtenis", "en": "Event"},
    "audit.outcome": {"nl": "Uitkomst", "en": "Outcome"},
    "audit.purpose": {"nl": "Doel", "en": "Purpose"},
    "audit.object": {"nl": "Object", "en": "Object"},
    "audit.checks": {"nl": "Controles", "en": "Checks"},
    "audit.seq": {"nl": "Volgnr.", "en": "Seq"},
    "audit.unsealed": {"nl": "nog niet verzegeld", "en": "not sealed yet"},
    "audit.none": {"nl": "Geen regels gevonden.", "en": "No entries found."},
    "audit.export": {"nl": "Exporteren", "en": "Export"},
    "audit.older": {"nl": "Oudere regels", "en": "Older entries"},
    "audit.invalid": {"nl": "Ongeldig filter", "en": "Invalid filter"},
})
_FILTER_FIELDS = ("organisation", "actor", "object_type", "object_id", "action", "from", "to")


def _filters() -> service.AuditFilter | None:
    try:
        return service.filter_from_params(request.args)
    except ValidationFailed as exc:
        flash(f"{translate('audit.invalid')}: " + ", ".join(f"{k}: {v}" for k, v in exc.fields.items()),
              "error")
        return None


@blueprint.get("/audit")
@login_required(Permission.AUDIT_READ)
def audit_index():
    filters = _filters()
    before = query_int(request.args, "before_id")
    rows = [] if filters is None else service.search_entries(
        db(), actor=g.web_actor, clock=registry().clock, filters=filters, before_id=before)
    db().commit()  # the read's audit entry
    args = {k: request.args.get(k, "") for k in _FILTER_FIELDS}
    return render_template("audit/index.html", entries=rows, args=args,
                           can_export=g.web_actor.can(Permission.AUDIT_EXPORT),
                           formats=sorted(service.EXPORT_FORMATS)), (200 if filters is not None else 400)


@blueprint.get("/audit/object/<object_type>/<object_id>")
@login_required(Permission.AUDIT_READ)
def audit_history(object_type: str, object_id: str):
    rows = service.object_history(db(), actor=g.web_actor, clock=registry().clock,
                                  object_type=object_type[:40], object_id=object_id[:64])
    db().commit()  # the read's audit entry
    return render_template("audit/history.html", entries=rows, object_type=object_type,
                           object_id=object_id)


@blueprint.get("/audit/export.<fmt>")
@login_required(Permission.AUDIT_EXPORT)
def audit_export(fmt: str):
    reg = registry()
    session = db()
    media_type, body = service.export_entries(
        session, actor=g.web_actor, clock=reg.clock, signer=reg.signer,
        filters=service.filter_from_params(request.args), fmt=fmt,
        checkpoint_every=reg.settings.audit_checkpoint_every)
    session.commit()
    return Response(body, content_type=media_type,
                    headers={"Content-Disposition": f"attachment; filename={FILENAMES[fmt]}"})
