"""The session cookie is read as Flask reads it; a request without one (every gateway's call)
does not build the signing serializer at all (registry.web.security.CookieSessions)."""

from __future__ import annotations

from flask import request, session

from registry.web.security import CookieSessions


def _counting(monkeypatch) -> list:
    built: list = []
    real = CookieSessions.get_signing_serializer

    def counting(self, app):
        built.append(app)
        return real(self, app)

    monkeypatch.setattr(CookieSessions, "get_signing_serializer", counting)
    return built


def test_a_request_without_a_cookie_gets_an_empty_session_and_no_serializer(app, monkeypatch):
    assert isinstance(app.session_interface, CookieSessions)
    built = _counting(monkeypatch)
    with app.test_request_context("/api/v1/bundle"):
        opened = app.session_interface.open_session(app, request)
    assert opened is not None and dict(opened) == {} and not opened.modified
    assert built == []


def test_a_signed_cookie_is_read_and_a_forged_one_is_not(app, monkeypatch):
    client = app.test_client()
    with client.session_transaction() as stored:
        stored["lang"] = "nl"
    built = _counting(monkeypatch)
    seen: dict = {}

    @app.get("/_session_probe")
    def _probe():  # noqa: ANN202
        seen.update(session)
        return ""

    client.get("/_session_probe")
    assert seen == {"lang": "nl"} and len(built) >= 1
    seen.clear()
    forged = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value[:-2] + "xx"
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], forged)
    client.get("/_session_probe")
    assert seen == {}


def test_without_a_secret_key_flask_has_no_session(app):
    app.secret_key = None
    with app.test_request_context("/"):
        assert app.session_interface.open_session(app, request) is None
