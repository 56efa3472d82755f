"""POST /api/v1/decisions and friends: 200 for every decision, permit or deny."""

from __future__ import annotations

from flask import jsonify

from registry.api import blueprint
from registry.api.auth import BadRequest, current_actor, parse_body, requires
from registry.edge import db, error_body, registry
from registry.permissions import Permission
from registry.schemas import DecisionIn, EvaluateIn
from registry.services import decisions as service


@blueprint.errorhandler(BadRequest)
def _bad_request(exc: BadRequest):
    return error_body("INVALID_REQUEST", exc.detail, 400, exc.fields)


def _signed(view: dict) -> dict:
    """The view plus "jws": the same fields signed by the registry (Ed25519, kid in the JWKS),
    so a gateway can keep a verifiable record of the answer it acted on."""
    from registry.api.oauth import published_signer

    return dict(view, jws=published_signer().sign(view, typ="aifi-decision+jwt"))


@blueprint.post("/decisions")
@requires(Permission.ROUTING_DECIDE)
def decide():
    body = parse_body(DecisionIn)
    reg = registry()
    session = db()
    outcome = service.decide(session, actor=current_actor(), clock=reg.clock, engine=reg.policy,
                             request=body)
    session.commit()
    return jsonify(_signed(service.decision_view(outcome)))


@blueprint.post("/decisions/evaluate")
@requires(Permission.ROUTING_DECIDE, Permission.DECISIONS_EVALUATE)
def evaluate():
    body = parse_body(EvaluateIn)
    reg = registry()
    session = db()
    outcome = service.evaluate_at(session, actor=current_actor(), clock=reg.clock, engine=reg.policy,
                                  request=body)
    session.commit()
    return jsonify(_signed(service.decision_view(outcome)))


@blueprint.get("/decisions/<decision_id>")
@requires(Permission.ROUTING_DECIDE, Permission.DECISIONS_READ)
def show(decision_id: str):
    d = service.get_decision(db(), actor=current_actor(), decision_id=decision_id[:36])
    return jsonify({
        "decision_id": d.id, "kind": d.kind, "decision": d.outcome, "dry_run": d.dry_run,
        "decided_at": d.decided_at.isoformat().replace("+00:00", "Z"),
        "evaluated_on": d.evaluated_on.isoformat(), "actor": d.actor, "tool": d.tool_slug,
        "purpose": d.purpose, "study_key": d.study_key, "reasons": d.reasons,
        "obligations": d.obligations, "refs": d.refs, "request": d.request, "facts": d.facts,
        "rules": d.rules, "policy_version": d.policy_version, "reservation": d.reservation,
    })
