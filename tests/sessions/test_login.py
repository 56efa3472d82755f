"""Logins: one answer and the same work for an unknown e-mail and a wrong password, throttling
per account and per address with a clear message, and a next= that stays on this site."""

from __future__ import annotations

import pytest

import registry.services.users as users_service
from tests.sessions.conftest import PASSWORD, entries, form_login

AUDITOR = "auditor@demo.aifi.nl"


def _answer(response, email: str) -> tuple[int, str]:  # noqa: ANN001
    # The page, with the address it echoes back into the form replaced.
    return response.status_code, response.get_data(as_text=True).replace(email, "EMAIL")


def test_unknown_email_and_wrong_password_get_the_same_answer_and_the_same_work(web, monkeypatch):
    calls: list[str] = []
    real = users_service.check_password_hash

    def counting(stored: str, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(users_service, "check_password_hash", counting)
    unknown = form_login(web, "nobody@demo.aifi.nl", "wrong-password-1")
    assert calls == ["wrong-password-1"]  # the hash check ran for an address that does not exist
    wrong = form_login(web, AUDITOR, "wrong-password-2")
    assert calls == ["wrong-password-1", "wrong-password-2"]
    assert _answer(unknown, "nobody@demo.aifi.nl") == _answer(wrong, AUDITOR)
    assert unknown.status_code == 400


def test_failed_and_successful_logins_are_in_the_audit_trail(web, session):
    form_login(web, "nobody@demo.aifi.nl", "x" * 12)
    form_login(web, AUDITOR)
    logins = entries(session, "login")
    assert [(e.outcome, e.actor, e.object_type) for e in logins[-2:]] == [
        ("failure", "anonymous:-", "account"), ("success", logins[-1].actor, "user")]
    assert logins[-2].object_id == "nobody@demo.aifi.nl"
    assert logins[-1].actor.startswith("user:") and logins[-1].network_access_point == "127.0.0.1"
    assert logins[-1].action_code == "E"


def test_logout_is_in_the_audit_trail(web, session):
    form_login(web, AUDITOR)
    web.post("/logout")
    (entry,) = entries(session, "logout")
    assert entry.actor.startswith("user:") and entry.outcome == "success"


@pytest.mark.parametrize("lang, text", [("en", "Too many failed login attempts"),
                                        ("nl", "Te veel mislukte inlogpogingen")])
def test_an_account_is_throttled_with_a_clear_message_and_an_audit_entry(web, session, clock,
                                                                         settings, lang, text):
    web.get(f"/?lang={lang}")
    for n in range(settings.login_max_failures_per_account):
        assert form_login(web, AUDITOR, f"wrong-{n}-password").status_code == 400
    locked = form_login(web, AUDITOR)  # even the right password now
    assert locked.status_code == 429
    assert text in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) == settings.login_throttle_window
    assert entries(session, "login")[-1].outcome == "denied"
    # Another account from the same address is not locked by this account's failures.
    assert form_login(web, "inkoop@demo.aifi.nl").status_code == 302
    clock.advance(seconds=settings.login_throttle_window + 1)
    assert form_login(web, AUDITOR).status_code == 302


def test_an_unknown_account_is_throttled_exactly_like_a_known_one(web, settings):
    for n in range(settings.login_max_failures_per_account):
        form_login(web, "nobody@demo.aifi.nl", f"wrong-{n}-password")
    assert form_login(web, "nobody@demo.aifi.nl").status_code == 429


def test_an_address_is_throttled_across_accounts(app, web, settings):
    app.extensions["registry"].settings = settings.model_copy(
        update={"login_max_failures_per_address": 3})
    for n in range(3):
        form_login(web, f"guess{n}@demo.aifi.nl", "wrong-password")
    assert form_login(web, AUDITOR).status_code == 429
    other = {"REMOTE_ADDR": "127.0.0.2"}
    assert form_login(web, AUDITOR, environ_base=other).status_code == 302


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example",
    "/%2F/evil.example", "/%5Cevil.example", "%2F%2Fevil.example", "/\t/evil.example",
    "/%09/evil.example", "javascript:alert(1)", "http:/evil.example", "evil.example",
    "/\x00/x", "https:evil.example",
])
def test_next_never_leads_off_site(web, target):
    response = form_login(web, AUDITOR, next_=target.replace("%", "%25").replace("\\", "%5C")
                          .replace("\t", "%09").replace("\x00", "%00").replace("#", "%23"))
    # Control characters are refused at the edge before the login runs (400); anything else
    # logs in and lands on the home page.
    assert (response.status_code, response.headers.get("Location")) in ((302, "/"), (400, None))


@pytest.mark.parametrize("target", ["/audit", "/audit?actor=user%3A1", "/audit/object/tools/1"])
def test_next_keeps_a_local_path(web, target):
    response = form_login(web, AUDITOR, next_=target.replace("%", "%25").replace("?", "%3F")
                          .replace("&", "%26"))
    assert response.headers["Location"] == target


def test_login_page_sends_an_anonymous_visitor_back_where_they_were(web):
    response = web.get("/audit?actor=x")
    assert response.status_code == 302
    follow = form_login(web, AUDITOR, next_=response.headers["Location"].split("next=", 1)[1])
    assert follow.headers["Location"] == "/audit?actor=x"
