"""The audit trail viewer (auditors, privacy officers, admins): filter, an object's history, export."""

from __future__ import annotations

from flask import Response, flash, g, render_template, request
from sqlalchemy import select

from registry.audit.export import FILENAMES
from registry.db.organisations import Gateway, Organisation
from registry.db.users import User
from registry.edge import db, registry
from registry.permissions import Permission
from registry.scope import restrict, scope_of
from registry.services import audit as service
from registry.services.errors import ValidationFailed
from registry.validation import query_int
from registry.web import blueprint
from registry.web.i18n import _
from registry.web.sentences import sentence
from registry.web.views import login_required
from registry.workspace.labels import ENUMS

_FILTER_FIELDS = ("organisation", "actor", "object_type", "object_id", "action", "from", "to")


def _filters() -> service.AuditFilter | None:
    try:
        return service.filter_from_params(request.args)
    except ValidationFailed as exc:
        flash(f"{_('Invalid filter')}: " + ", ".join(f"{k}: {v}" for k, v in exc.fields.items()),
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
    return _index_page(rows, status=200 if filters is not None else 400)


def _index_page(rows, status: int = 200, report=None):  # noqa: ANN001, ANN202
    """The viewer with its filters as lists of names (organisations, people, kinds of object)."""
    args = {k: request.args.get(k, "") for k in _FILTER_FIELDS}
    session = db()
    scope = scope_of(session, g.web_actor)
    organisations = list(session.scalars(restrict(select(Organisation), scope, Organisation)
                                         .order_by(Organisation.name)))
    actors = [(f"user:{u.id}", f"{u.name} ({u.email})" if u.name else u.email)
              for u in session.scalars(restrict(select(User), scope, User).order_by(User.name))]
    actors += [(f"gateway:{gw.client_id}", gw.name)
               for gw in session.scalars(restrict(select(Gateway), scope, Gateway).order_by(Gateway.name))]
    object_types = sorted(((k, str(v)) for k, v in ENUMS["object_type"].items()), key=lambda kv: kv[1])
    return render_template("audit/index.html", entries=rows, args=args, organisations=organisations,
                           actors=actors, object_types=object_types, report=report,
                           can_export=g.web_actor.can(Permission.AUDIT_EXPORT),
                           formats=sorted(service.EXPORT_FORMATS)), status


@blueprint.post("/audit/verify")
@login_required(Permission.AUDIT_READ)
def audit_verify():
    """Recompute the hash chain and check every signed checkpoint, from the viewer."""
    reg = registry()
    session = db()
    result = service.verify_audit_trail(session, actor=g.web_actor, clock=reg.clock, signer=reg.signer,
                                        checkpoint_every=reg.settings.audit_checkpoint_every,
                                        retention_days=reg.settings.audit_retention_days)
    session.commit()  # sealing what was pending is part of verifying
    problem = ""
    if result.failure is not None:
        problem = _("First break at entry %(seq)s: %(what)s", seq=result.failure.seq,
                    what=sentence(result.failure.reason))
    report = {"ok": result.ok, "entries": result.entries_checked, "checkpoints": result.checkpoints_checked,
              "problem": problem}
    rows = service.search_entries(session, actor=g.web_actor, clock=reg.clock, filters=service.AuditFilter())
    session.commit()  # the read's audit entry
    return _index_page(rows, report=report)


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
