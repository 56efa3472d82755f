"""Role × route matrix for the web UI (the API's is tests/test_role_matrix.py).

Every web route of the URL map, every method, for a national user holding just one role: 403
exactly when the role holds none of the permissions the route declares; otherwise an answer that
is neither 403 nor a server error. Generated from the URL map, so a new route is covered the day
it is added. POSTs go without a CSRF token's check (disabled here) and without a valid body: a
refusal must come from the permission, an allowed caller's empty form must be a 4xx, never a 500.
"""

from __future__ import annotations

import uuid

import pytest

from registry.permissions import ROLE_PERMISSIONS, ROLES
from registry.services.users import create_user
from tests.factories import SYSTEM, browser_login
from tests.web.routes import sample_path, web_rules


def _routes(app, session) -> list[tuple[str, str, str, tuple]]:  # noqa: ANN001
    out = []
    for rule in web_rules(app):
        declared = getattr(app.view_functions[rule.endpoint], "required_permissions", ())
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, sample_path(rule, session), tuple(declared)))
    return out


@pytest.mark.parametrize("role", ROLES)
def test_web_role_matrix(app, client, session, clock, role):
    app.config["WTF_CSRF_ENABLED"] = False
    user, _ = create_user(session, actor=SYSTEM, clock=clock, roles=[role], password="matrix-password-1",
                          email=f"{role}.{uuid.uuid4().hex[:6]}@web-matrix.test")
    session.commit()
    routes = _routes(app, session)
    assert len(routes) >= 25  # a walk of nothing proves nothing
    refused, allowed, wrong = 0, 0, []
    for endpoint, method, path, declared in routes:
        if endpoint in ("web.logout", "web.login", "web.sso_start", "web.sso_callback"):
            # Public: they change the session itself or talk to an identity provider; covered by
            # tests/test_routes_declare_permissions.py and tests/sso.
            continue
        browser_login(client, session, user.email)
        response = client.open(path, method=method, data={})
        response.close()  # as a WSGI server does: a streamed export stops and frees its cursor now
        holds = not declared or bool(set(declared) & ROLE_PERMISSIONS[role])
        if holds:
            allowed += 1
            if response.status_code == 403 or response.status_code >= 500:
                wrong.append((endpoint, method, response.status_code, "expected access"))
        else:
            refused += 1
            if response.status_code != 403:
                wrong.append((endpoint, method, response.status_code, "expected 403"))
    assert not wrong, wrong
    assert allowed and (refused or role == "admin"), (role, allowed, refused)
