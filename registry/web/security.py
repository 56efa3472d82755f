"""Web security headers: a strict CSP (no inline script or style), no framing, no caching of pages
with personal or audit data, HSTS and Secure cookies outside development."""

from __future__ import annotations

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface

from registry.settings import Settings

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")
# Pages anyone may cache: the public overview and the stylesheet. Everything else can show
# personal, contractual or audit data, so no browser or proxy keeps a copy.
_CACHEABLE = {"web.index", "static"}


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened without building its signing serializer when the
    request has no session cookie (every gateway and API call): py-spy put that build at 2.8 % of
    an in-process decision's time, callgrind counts 1 % fewer instructions without it
    (docs/performance.md). A request with a cookie is read exactly as Flask reads it; without a
    secret key Flask's null session stays."""

    def open_session(self, app, request):  # noqa: ANN001, ANN201 - Flask's signature
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def register_security_headers(app: Flask, settings: Settings) -> None:
    production = settings.environment == "production"
    app.config["SESSION_COOKIE_SECURE"] = production
    app.session_interface = CookieSessions()

    @app.after_request
    def _security_headers(response):  # noqa: ANN001, ANN202
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint not in _CACHEABLE or session.get("sid") is not None:
            headers.setdefault("Cache-Control", "no-store")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

