"""Every route declares the permission it needs (`required_permissions` on its view function).

API routes declare it with ``registry.api.auth.requires(...)``; web routes with
``registry.web.views.public()`` or ``login_required(...)``. A route that declares nothing is a
route nobody decided about. The only exceptions are listed below, each with its reason; the list
is checked in both directions, so a stale entry fails as surely as a new undeclared route.
"""

from __future__ import annotations

import re

import pytest

from registry.permissions import Permission

# Flask's own static files: no view of ours.
FLASK_BUILTIN = {"static"}

# Public by design. They may carry no attribute at all (the API side has no `public()` marker
# yet) or an empty tuple; they must never need a permission they do not declare.
PUBLIC_ENDPOINTS = {
    "web.index": "the landing page shows only public facts (pilot hospitals, tools)",
    "web.login": "the login form itself; CSRF-protected",
    "oauth.token": "OAuth2 token endpoint: the client authenticates by OAuth itself (RFC 6749 §3.2.1)",
    "oauth.revoke": "RFC 7009 revocation: the client authenticates by OAuth itself",
    "oauth.authorization_server_metadata": "RFC 8414 metadata is public by definition",
    "oauth.jwks": "the registry's public keys, needed to verify bundles, decisions and checkpoints",
    "api.list_checkpoints": "signed audit checkpoints are published so outsiders can keep them",
    "api_docs.openapi": "the OpenAPI document describes the API, not data",
    "api_docs.docs": "the same document as a page",
    "web.sso_start": "starts single sign-on at an organisation's identity provider; nothing is shown or changed",
    "web.sso_callback": "the identity provider returns here; state, PKCE and the signed id_token authenticate",
    "ops.healthz": "liveness probe: says only that the process answers",
    "ops.readyz": "readiness probe for the load balancer: names failing checks, no data",
    "ops.metrics_view": "operators only, by the bearer token REGISTRY_METRICS_TOKEN (not a user "
                        "permission); refused (404) when no token is configured",
}

# Need a logged-in person but no particular permission (declared as an empty tuple by
# `login_required()`); checked below to really redirect an anonymous caller.
AUTHENTICATED_ONLY = {
    "web.logout": "ends one's own session",
    "web.search": "searches only what the person may see (registry.scope, per object type's permission)",
    "web.tokens": "one's own personal API tokens (scopes never wider than one's roles)",
    "web.token_revoke": "revokes one's own token (someone else's does not exist for the caller)",
}


def _endpoints(app) -> dict[str, set[str]]:  # noqa: ANN001
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        out.setdefault(rule.endpoint, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    return out


def test_the_app_has_routes_to_check(app):
    endpoints = set(_endpoints(app)) - FLASK_BUILTIN
    # Guard against a walk of nothing: the decision API and the login page must be among them.
    assert {"api.decide", "web.login", "oauth.token"} <= endpoints


def test_every_endpoint_declares_its_permissions(app):
    undeclared, wrong_type, empty_but_not_public = [], [], []
    for endpoint in sorted(set(_endpoints(app)) - FLASK_BUILTIN):
        view = app.view_functions[endpoint]
        if not hasattr(view, "required_permissions"):
            if endpoint not in PUBLIC_ENDPOINTS:
                undeclared.append(endpoint)
            continue
        declared = view.required_permissions
        if not isinstance(declared, tuple):
            wrong_type.append(f"{endpoint}: {type(declared).__name__}")
        elif not declared and endpoint not in PUBLIC_ENDPOINTS | AUTHENTICATED_ONLY.keys():
            empty_but_not_public.append(endpoint)
    assert undeclared == [], f"routes that declare no permission: {undeclared}"
    assert wrong_type == [], f"required_permissions must be a tuple: {wrong_type}"
    assert empty_but_not_public == [], f"empty permissions on a route not listed as public: {empty_but_not_public}"


def test_the_public_lists_are_not_stale(app):
    endpoints = _endpoints(app)
    listed = PUBLIC_ENDPOINTS.keys() | AUTHENTICATED_ONLY.keys()
    assert sorted(listed - endpoints.keys()) == [], "listed endpoints that no longer exist"
    needing = [e for e in sorted(listed)
               if getattr(app.view_functions[e], "required_permissions", ())]
    assert needing == [], f"listed as public but declare permissions (remove from the list): {needing}"


def test_every_declared_permission_is_in_the_one_list(app):
    unknown = []
    for endpoint in sorted(set(_endpoints(app)) - FLASK_BUILTIN):
        for permission in getattr(app.view_functions[endpoint], "required_permissions", ()):
            if not isinstance(permission, Permission) or permission not in set(Permission):
                unknown.append(f"{endpoint}: {permission!r}")
    assert unknown == []


@pytest.mark.parametrize("endpoint, path", [("web.index", "/"), ("web.login", "/login"),
                                            ("oauth.authorization_server_metadata",
                                             "/.well-known/oauth-authorization-server"),
                                            ("oauth.jwks", "/.well-known/jwks.json"),
                                            ("api.list_checkpoints", "/api/v1/audit/checkpoints")])
def test_public_get_endpoints_answer_anonymously(client, endpoint, path):
    assert endpoint in PUBLIC_ENDPOINTS
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_oauth_endpoints_refuse_an_unauthenticated_client(client, path):
    # Public routes, but OAuth itself authenticates the client: no credentials, no answer.
    response = client.post(path, data={"grant_type": "client_credentials", "token": "aifi_at_x"})
    assert response.status_code in (400, 401)
    assert "access_token" not in (response.get_json() or {})


def test_authenticated_only_endpoints_send_anonymous_callers_to_login(app, client):
    app.config["WTF_CSRF_ENABLED"] = False  # so that the login check, not CSRF, answers
    for endpoint, (method, path) in {"web.logout": ("POST", "/logout"), "web.search": ("GET", "/search?q=x"),
                                     "web.tokens": ("GET", "/tokens"),
                                     "web.token_revoke": ("POST", "/tokens/1/revoke")}.items():
        assert endpoint in AUTHENTICATED_ONLY
        response = client.open(path, method=method)
        assert response.status_code == 302 and "/login" in response.headers["Location"], endpoint
    assert len(AUTHENTICATED_ONLY) == 4


def test_every_protected_api_route_refuses_an_anonymous_caller(app, client):
    """A declaration that is only a label would be worse than none: anonymous calls get 401."""
    checked = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "required_permissions", ()) or not rule.rule.startswith(("/api/", "/oauth/")):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, json={})
            assert response.status_code == 401, (rule.endpoint, method, response.status_code)
            checked += 1
    assert checked >= 15


def test_every_protected_web_route_sends_an_anonymous_caller_to_login(app, client):
    app.config["WTF_CSRF_ENABLED"] = False  # so that the login check, not CSRF, answers
    checked = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith(("/api/", "/oauth/", "/.well-known/")) or rule.endpoint in FLASK_BUILTIN:
            continue
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = re.sub(r"<int:\w+>", "1", rule.rule)
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            assert response.status_code == 302, (rule.endpoint, method, response.status_code)
            assert "/login" in response.headers["Location"]
            checked += 1
    assert checked >= 4
