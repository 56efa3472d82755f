"""The application factory. Nothing is built at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.clock import Clock, SystemClock
from registry.db.base import make_engine, make_session_factory
from registry.policy.engine import PolicyEngine
from registry.services.terms_cache import TermsCache
from registry.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SIGNER_RECHECK_SECONDS = 30.0


@dataclass
class Registry:
    """What the edges need, built once per app: settings, engine, sessions, policies, clock."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    policy: PolicyEngine
    clock: Clock
    # The terms the decision path keeps in memory, dropped whenever the terms revision moves.
    terms: TermsCache = field(default_factory=TermsCache)
    # The CA certificates (DER) that signatures on uploaded agreements must chain to.
    trust_anchors: tuple[bytes, ...] = ()
    _signer: object = None
    _signer_checked: float = 0.0

    @property
    def signer(self):  # noqa: ANN201
        """The current Ed25519 signing key, loaded (or created) on first use.

        Looked up again at most every SIGNER_RECHECK_SECONDS, so that after `registry keys rotate`
        every running instance moves to the new key within that time, well inside the period in
        which the retired key stays published (one bundle lifetime)."""
        import time

        now = time.monotonic()
        if self._signer is None or now - self._signer_checked > SIGNER_RECHECK_SECONDS:
            from registry.keys import load_or_create

            self._signer = load_or_create(self.settings.signing_key_dir)
            self._signer_checked = now
        return self._signer


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               engine: Engine | None = None,
               sessions: sessionmaker[Session] | None = None) -> Flask:
    """Build the app. Tests pass ``engine``/``sessions`` bound to their own connection and a
    fixed ``clock``; everything else comes from ``settings`` (the environment by default)."""
    settings = settings or Settings()
    app = Flask("registry", template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "registry" / "web" / "static"))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.environment == "production",
        JSON_SORT_KEYS=False,
    )
    engine = engine or make_engine(settings.database_url)
    from registry.pades import load_trust_anchors

    # Policies and signature trust anchors are read here, once: an invalid policy or a missing
    # anchor file stops start-up.
    app.extensions["registry"] = Registry(settings=settings, engine=engine,
                                          sessions=sessions or make_session_factory(engine),
                                          policy=PolicyEngine.load(), clock=clock or SystemClock(),
                                          trust_anchors=load_trust_anchors(settings.signature_trust_anchors))

    # Authlib logs issued tokens at DEBUG ("Issue token %r"); the registry never logs tokens, so
    # its loggers never go below INFO, whatever the root logger is set to.
    logging.getLogger("authlib").setLevel(max(logging.getLogger("authlib").level, logging.INFO))

    from registry.web.i18n import init_i18n

    init_i18n(app)
    csrf = CSRFProtect(app)
    from registry.api import blueprint as api_bp
    from registry.web import load_views

    web_bp = load_views()

    csrf.exempt(api_bp)  # bearer-token API: no cookies, so no CSRF
    app.register_blueprint(api_bp)
    from registry.api.oauth import blueprint as oauth_bp

    csrf.exempt(oauth_bp)  # OAuth clients authenticate each request; no cookies
    app.register_blueprint(oauth_bp)
    app.register_blueprint(web_bp)
    from registry.api.objects import docs_blueprint

    app.register_blueprint(docs_blueprint)
    from registry.edge import register_edge
    from registry.ops import register_ops

    register_edge(app)
    register_ops(app)  # /healthz, /readyz, /metrics
    from registry.web.errors import register_error_pages
    from registry.web.security import register_security_headers

    register_error_pages(app)
    register_security_headers(app, settings)
    app.jinja_env.globals["endpoint_exists"] = lambda name: name in app.view_functions
    return app
