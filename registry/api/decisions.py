"""POST /api/v1/decisions and friends: 200 for every decision, permit or deny."""

from __future__ import annotations

from flask import jsonify

from registry.api import blueprint
from registry.api.auth import BadRequest, current_actor, parse_body, requires
from registry.audit.access import log_decision_read
from registry.edge import db, error_body, registry
from registry.ops import observe_decision
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


def _answer(use_case, schema):  # noqa: ANN001, ANN202
    """Parse, decide, commit once, answer 200 with the signed view (permit or deny alike)."""
    body = parse_body(schema)
    reg = registry()
    session = db()
    outcome = use_case(session, actor=current_actor(), clock=reg.clock, engine=reg.policy,
                       request=body, terms=reg.terms)
    session.commit()
    observe_decision(outcome.decision.outcome, outcome.decision.reasons)
    return jsonify(_signed(service.decision_view(outcome)))


@blueprint.post("/decisions")
@requires(Permission.ROUTING_DECIDE, reads_first=True)
def decide():
    return _answer(service.decide, DecisionIn)


@blueprint.post("/decisions/evaluate")
@requires(Permission.ROUTING_DECIDE, Permission.DECISIONS_EVALUATE)
def evaluate():
    return _answer(service.evaluate_at, EvaluateIn)


@blueprint.get("/decisions/<decision_id>")
@requires(Permission.ROUTING_DECIDE, Permission.DECISIONS_READ)
def show(decision_id: str):
    actor = current_actor()
    session = db()
    decision = service.get_decision(session, actor=actor, decision_id=decision_id[:36])
    detail = service.decision_detail(decision, actor=actor)
    # NEN 7513: showing a stored decision (study key, pseudonym) is an access to log.
    log_decision_read(session, actor=actor, at=registry().clock.now(), decision=decision,
                      pseudonym_shown=detail["request"].get("patient_pseudonym") not in (None, "(withheld)"))
    session.commit()
    return jsonify(detail)
