"""Server-side web sessions: a cookie works only while its session record is live."""

from __future__ import annotations

from sqlalchemy import select

from registry.db.users import User
from registry.services.sessions import revoke_user_sessions
from registry.web.views import SESSION_KEY
from tests.auth.helpers import staff_bearer
from tests.sessions.conftest import form_login

AUDITOR = "auditor@demo.aifi.nl"


def _cookie(client) -> str:  # noqa: ANN001
    with client.session_transaction() as s:
        return s.get(SESSION_KEY)


def _plant(client, value: str) -> None:  # noqa: ANN001
    with client.session_transaction() as s:
        s.clear()
        s[SESSION_KEY] = value


def _in(client) -> bool:  # noqa: ANN001
    response = client.get("/audit")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_login_opens_a_session_and_the_cookie_holds_only_a_random_value(web, session):
    assert form_login(web, AUDITOR).status_code == 302
    value = _cookie(web)
    assert value.startswith("aifi_ss_") and _in(web)
    from registry.auth.secrets import hash_secret
    from registry.db.sessions import UserSession

    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_secret(value)))
    assert row is not None and row.revoked_at is None


def test_a_logged_out_session_cookie_is_refused(web):
    form_login(web, AUDITOR)
    stolen = _cookie(web)
    assert web.post("/logout").status_code == 302
    _plant(web, stolen)  # the old cookie, replayed
    assert not _in(web)


def test_each_login_gets_a_new_session_value(web):
    form_login(web, AUDITOR)
    first = _cookie(web)
    form_login(web, AUDITOR)
    assert _cookie(web) != first


def test_idle_timeout(web, clock, settings):
    form_login(web, AUDITOR)
    clock.advance(seconds=settings.session_idle_timeout - 1)
    assert _in(web)  # activity moves the idle deadline
    clock.advance(seconds=settings.session_idle_timeout - 1)
    assert _in(web)
    clock.advance(seconds=settings.session_idle_timeout)
    assert not _in(web)


def test_absolute_timeout_however_active(web, clock, settings):
    form_login(web, AUDITOR)
    step = settings.session_idle_timeout // 2
    elapsed = 0
    while elapsed + step < settings.session_absolute_timeout:
        clock.advance(seconds=step)
        elapsed += step
        assert _in(web), elapsed
    clock.advance(seconds=settings.session_absolute_timeout - elapsed)
    assert not _in(web)


def test_revoke_user_sessions_ends_sessions_and_staff_tokens(web, session, clock):
    form_login(web, AUDITOR)
    headers = staff_bearer(session, clock, AUDITOR)
    assert web.get("/api/v1/audit/entries", headers=headers).status_code == 200
    user = session.scalar(select(User).where(User.email == AUDITOR))
    assert revoke_user_sessions(session, user_id=user.id, clock=clock, reason="password changed") == 1
    session.commit()
    assert not _in(web)
    assert web.get("/api/v1/audit/entries", headers=headers).status_code == 401


def test_a_disabled_user_is_logged_out_at_once(web, session):
    form_login(web, AUDITOR)
    user = session.scalar(select(User).where(User.email == AUDITOR))
    user.active = False
    session.commit()
    assert not _in(web)


def test_a_forged_session_value_is_refused(web):
    _plant(web, "aifi_ss_" + "A" * 43)
    assert not _in(web)
    _plant(web, 12345)
    assert not _in(web)
