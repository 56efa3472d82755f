"""Operations: /healthz (the process is up), /readyz (it can serve: database, schema, policies,
signing key) and /metrics (Prometheus text format, for operators only).

/metrics is open only with the bearer token in ``REGISTRY_METRICS_TOKEN`` (compared in constant
time) and refused (404) when none is configured. Under gunicorn every worker writes its samples to
``PROMETHEUS_MULTIPROC_DIR`` (``registry serve`` sets one up) and a scrape of any worker
aggregates them all (prometheus-client's multiprocess mode); without that directory a worker
reports its own samples only.

Metrics: decisions by outcome and first reason, decision latency, usage events by result, errors
by kind, and audit entries waiting to be sealed (read at scrape time).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy import func, select, text

from registry.edge import db, registry

blueprint = Blueprint("ops", __name__)

# Decision latency buckets (seconds): the target is a p99 of 25 ms.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Metrics:
    """The registry's metrics, made on first use (prometheus-client picks its multiprocess
    storage when it is imported, so it must see PROMETHEUS_MULTIPROC_DIR first)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.decisions = Counter("registry_decisions", "Decisions by outcome and first reason code",
                                 ["outcome", "reason"])
        self.decision_seconds = Histogram("registry_decision_seconds",
                                          "Time to answer POST /api/v1/decisions", buckets=_LATENCY_BUCKETS)
        self.usage_events = Counter("registry_usage_events", "Usage events by result", ["result"])
        self.errors = Counter("registry_errors", "Error answers by kind", ["kind"])


_made: list[_Metrics] = []
_making = threading.Lock()


def metrics() -> _Metrics:
    """The process's metrics, made once (two threads must not both register them)."""
    if not _made:
        with _making:
            if not _made:
                _made.append(_Metrics())
    return _made[0]


def observe_decision(outcome: str, reasons: list[dict[str, Any]]) -> None:
    metrics().decisions.labels(outcome, reasons[0]["code"] if reasons else "").inc()


def observe_usage(accepted: int, duplicates: int, rejected: int) -> None:
    m = metrics().usage_events
    for result, n in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if n:
            m.labels(result).inc(n)


@blueprint.before_app_request
def _start_clock() -> None:
    g.ops_started = time.perf_counter()


@blueprint.after_app_request
def _count(response: Response) -> Response:
    if request.endpoint == "api.decide" and response.status_code == 200:
        metrics().decision_seconds.observe(time.perf_counter() - g.get("ops_started", time.perf_counter()))
    if response.status_code >= 500:
        metrics().errors.labels("database_unavailable" if response.status_code == 503 else "server").inc()
    elif response.status_code in (400, 401, 403, 413):
        metrics().errors.labels({400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                                 413: "too_large"}[response.status_code]).inc()
    return response


# -- health ---------------------------------------------------------------------------------------

@blueprint.get("/healthz")
def healthz():
    """The process is up and answers; nothing else is checked (that is /readyz)."""
    return jsonify({"status": "ok"})


@lru_cache(maxsize=1)
def _migration_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from registry.db.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _check_database() -> list[str]:
    # The request's own session, like every other read: no second connection of our own.
    stored = set(db().execute(text("SELECT version_num FROM alembic_version")).scalars())
    return [] if stored == _migration_heads() else ["migrations"]


def _checks() -> dict[str, str]:
    reg = registry()
    checks: dict[str, str] = {}
    try:
        failing = _check_database()
        checks["database"] = "ok"
        checks["migrations"] = "behind or ahead of this code" if failing else "ok"
    except Exception as exc:  # noqa: BLE001 - any failure to reach or read the database
        _rollback_quietly()
        checks["database"] = f"unreachable ({type(exc).__name__})"
        checks["migrations"] = "unknown"
    checks["policies"] = "ok" if reg.policy is not None and reg.policy.version else "not loaded"
    try:
        checks["signing_key"] = "ok" if reg.signer.kid else "missing"
    except Exception as exc:  # noqa: BLE001 - unreadable directory, corrupt key file
        checks["signing_key"] = f"unavailable ({type(exc).__name__})"
    return checks


@blueprint.get("/readyz")
def readyz():
    """Ready to serve: database reachable, schema at the migrations' head, policies loaded, a
    signing key to sign with. 503 naming each failing check otherwise (never a traceback)."""
    checks = _checks()
    failing = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not failing else "not ready", "checks": checks}
    if failing:
        body["failing"] = failing
    return jsonify(body), 200 if not failing else 503


# -- metrics ----------------------------------------------------------------------------------------

def _authorised() -> bool:
    token = registry().settings.metrics_token
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _unsealed() -> int | None:
    from registry.db.audit import AuditEntry

    try:
        return db().scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.sealed.is_(False)))
    except Exception:  # noqa: BLE001 - a scrape must still answer while the database is down
        _rollback_quietly()
        return None


def _rollback_quietly() -> None:
    try:
        db().rollback()
    except Exception:  # noqa: BLE001 - the connection is already broken
        pass


@blueprint.get("/metrics")
def metrics_view():
    """Prometheus text format, for operators with the metrics token only."""
    if not registry().settings.metrics_token:
        return jsonify({"error": {"code": "NOT_FOUND", "detail": "metrics are not enabled"}}), 404
    if not _authorised():
        response = jsonify({"error": {"code": "UNAUTHENTICATED", "detail": "the metrics token is required"}})
        response.headers["WWW-Authenticate"] = 'Bearer realm="aifi-registry-metrics"'
        return response, 401
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    metrics()  # registered before the first scrape, so that they show with zero samples
    collected = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(collected)
    else:
        from prometheus_client import REGISTRY

        collected = REGISTRY
    body = generate_latest(collected)
    waiting = _unsealed()
    if waiting is not None:
        gauge = GaugeMetricFamily("registry_audit_entries_unsealed",
                                  "Audit entries written but not yet sealed into the hash chain")
        gauge.add_metric([], waiting)
        extra = CollectorRegistry()
        extra.register(_Once(gauge))
        body += generate_latest(extra)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class _Once:
    def __init__(self, family: Any) -> None:
        self.family = family

    def collect(self):  # noqa: ANN201
        yield self.family


def register_ops(app: Flask) -> None:
    app.register_blueprint(blueprint)
