"""POST /api/v1/usage (gateways report what they did with permits) and GET /api/v1/reconciliation."""

from __future__ import annotations

import json
import logging
from datetime import date

from flask import jsonify, request

from registry.actor import Actor
from registry.api import blueprint
from registry.api.auth import BadRequest, current_actor, requires
from registry.edge import db, registry
from registry.ops import observe_usage
from registry.permissions import Permission
from registry.services import usage as service
from registry.services import usage_rollup

log = logging.getLogger("registry.usage")


def _envelope() -> list:
    """The envelope is all-or-nothing (400, nothing changes); single events are judged one by one."""
    try:
        body = json.loads(request.get_data(cache=False) or b"")
    except ValueError:
        raise BadRequest("the body is not JSON", {"body": "invalid JSON"}) from None
    if not isinstance(body, dict) or set(body) != {"events"}:
        raise BadRequest("the body must be an object with exactly one member, events",
                         {"body": "expected {\"events\": [...]}"})
    events = body["events"]
    if not isinstance(events, list):
        raise BadRequest("events must be a list", {"events": "not a list"})
    if len(events) > service.MAX_EVENTS:
        raise BadRequest(f"at most {service.MAX_EVENTS} events per request",
                         {"events": f"{len(events)} events"})
    return events


@blueprint.post("/usage")
@requires(Permission.USAGE_REPORT)
def report():
    events = _envelope()
    reg = registry()
    session = db()
    result = service.report_usage(session, actor=current_actor(), clock=reg.clock, events=events)
    session.commit()
    observe_usage(result.accepted, result.duplicates, len(result.rejected))
    _sweep(session, reg)
    return jsonify(result.view())


def _sweep(session, reg) -> None:  # noqa: ANN001
    """Expire a bounded number of stale reservations, in a transaction of its own after the
    report is committed: a failing or slow sweep must never cost a gateway its accepted events."""
    try:
        service.expire_reservations(session, actor=Actor.system("reservation-expiry"),
                                    clock=reg.clock, window_seconds=reg.settings.reservation_window,
                                    limit=service.OPPORTUNISTIC_EXPIRY_LIMIT)
        session.commit()
    except Exception as exc:  # noqa: BLE001 - best effort; `registry usage expire` catches up
        session.rollback()
        log.warning("opportunistic reservation expiry failed: %s", type(exc).__name__)
    try:
        # The monthly rollup grew by a row per confirmed event; fold it (one pass at a time).
        usage_rollup.compact(session)
        session.commit()
    except Exception as exc:  # noqa: BLE001 - best effort; readers add up uncompacted rows alike
        session.rollback()
        log.warning("usage rollup compaction failed: %s", type(exc).__name__)


@blueprint.get("/reconciliation")
@requires(Permission.USAGE_READ, Permission.USAGE_REPORT)
def reconciliation():
    fields = {}
    licence_id = period_start = None
    if "licence" in request.args:
        try:
            licence_id = int(request.args["licence"])
        except ValueError:
            fields["licence"] = "must be a licence id (an integer)"
    if "period_start" in request.args:
        try:
            period_start = date.fromisoformat(request.args["period_start"])
        except ValueError:
            fields["period_start"] = "must be a date, YYYY-MM-DD"
    if fields:
        raise BadRequest("invalid query", fields)
    periods = service.reconciliation(db(), actor=current_actor(), licence_id=licence_id,
                                     period_start=period_start)
    return jsonify({"periods": periods})
