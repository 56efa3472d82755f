"""A table of hostile inputs against every route and every method, generated from the app's URL
map (so routes added later are covered without anyone listing them): no answer is a 5xx, and
every error under /api, /oauth and /.well-known is JSON.

Each route is tried as an anonymous caller, as a gateway (every gateway scope) and as an admin
(a staff bearer token and a logged-in browser), with hostile path values, hostile query
parameters (the route's own, read from its source, plus common ones) and hostile bodies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import registry
from registry.app import create_app
from registry.settings import Settings
from tests.auth.helpers import staff_bearer
from tests.factories import bearer, browser_login

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LONG = "x" * 3000

# Substituted (already URL-encoded) into every variable part of a route's path.
PATH_VALUES = ["%00", "a%00b", "%0A", "%C0%80", "%FF%FE", "99999999999999999999999999", "-1",
               "%C2%B2", "%D9%A1", "9999-12-31", "0001-01-01", "1e20", LONG, "..%2F..%2Fetc",
               "%27%20OR%201%3D1--", "%E2%80%AE", "NaN"]
# Query values, given to every parameter name at once.
QUERY_VALUES = ["%00", "99999999999999999999999999", "-1", "%C2%B2", "%D9%A1", "9999-12-31",
                "0001-01-01", "0000-00-00", "1e20", LONG, "y" * 1500, "%FF", "a%00b", "NaN", "-0",
                "%E2%80%AE", "0"]
# Each parameter on its own gets these (the ones that probe types and ranges).
SINGLE_VALUES = ["%00", "99999999999999999999999999", "-1", "%C2%B2", "9999-12-31", "0001-01-01",
                 "y" * 1500, "NaN"]
COMMON_PARAMS = {"limit", "offset", "page", "per_page", "q", "sort", "order", "id", "date", "at",
                 "status", "hospital", "tool", "next", "lang", "after_seq", "before_id",
                 "organisation", "from", "to", "actor", "object_type", "object_id"}

_DEEP = "[" * 20000 + "]" * 20000
_STUDY = {"study_key": "k\u0000", "modality": "DX", "body_part": "HAND",
          "patient_age_years": 1e308, "patient_sex": "M", "sop_class_uids": ["1." * 40]}
_EVENT = {"event_id": "e\u0000", "decision_id": "x" * 400, "status": "completed",
          "occurred_at": "0001-01-01T00:00:00+14:00", "study_key": "\u0000", "tool": "t",
          "count": 2**70}
JSON_BODIES = [
    _DEEP, '{"a":' * 5000 + "1" + "}" * 5000, '{"a": "\\u0000"}', "1e400", "null", "[]",
    '"text"', "not json", "",
    json.dumps({"tool": "bonexpert", "tool_version": "\u0000", "purpose": "clinical-care",
                "study": _STUDY, "patient_pseudonym": "ab" * 32}),
    json.dumps({"tool": "bonexpert", "purpose": "clinical-care", "at": "9999-12-31",
                "study": {"study_key": "k"}, "hospital_ura": "99999999"}),
    json.dumps({"tool": "bonexpert", "purpose": "clinical-care", "at": "0001-01-01",
                "study": {"study_key": "k"}}),
    json.dumps({"events": [_EVENT, dict(_EVENT, occurred_at="9999-12-31T23:59:59-14:00"),
                           dict(_EVENT, count=-2**70), "x", None, [[[]]]]}),
    json.dumps({"events": [{}] * 5000}),
    json.dumps({"hospital_ura": "0\u0000000000", "name": "\u0000",
                "public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": "\u0000"}}),
    json.dumps({"public_jwk": {"kty": "EC", "crv": "P-256", "x": "A" * 5000, "y": "B"}}),
    json.dumps({"reason": "\u0000" * 600, "checkpoints": ["\u0000", 2**70, {"a": []}]}),
]
RAW_BODIES = [b"\xff\xfe{\x00", b'{"a": "\xed\xa0\x80"}']
FORM_BODIES = [
    {"grant_type": "client_credentials", "client_id": "gw\x00", "client_secret": "s\x00"},
    {"grant_type": "client_credentials", "client_assertion_type":
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "a.b.c"},
    {"token": "aifi_at_\x00", "email": "a\x00@x.nl", "password": "p\x00", "csrf_token": "\x00"},
    {"email": "a" * 5000 + "@x.nl", "password": LONG, "token": LONG},
]


def _endpoints() -> list[str]:
    app = create_app(Settings(database_url="sqlite://"))
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()})


def _query_names() -> list[str]:
    """Every query parameter name the registry's code reads anywhere (``args.get("x")``,
    ``params.get("x")``, ``args["x"]``), plus common ones: routes added later are covered too."""
    found = set(COMMON_PARAMS)
    for path in Path(registry.__file__).parent.rglob("*.py"):
        found |= set(re.findall(r"(?:args|params)(?:\.get\(|\[|,\s*)\s*[\"'](\w+)[\"']", path.read_text()))
    return sorted(found)


QUERY_NAMES = _query_names()


def _paths(rule, value: str) -> str:  # noqa: ANN001
    path = rule.rule
    for arg in rule.arguments:
        path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", value, path)
    return path


def _ok_path(rule) -> str:  # noqa: ANN001
    return _paths(rule, "x1")


@pytest.fixture
def identities(app, client, session, clock, world):
    gateway = bearer(session, clock, world.gateway)
    admin = staff_bearer(session, clock, "admin@demo.aifi.nl")

    def anonymous() -> dict:
        with client.session_transaction() as s:
            s.clear()
        return {}

    def as_gateway() -> dict:
        anonymous()
        return gateway

    def as_admin() -> dict:
        browser_login(client, session, "admin@demo.aifi.nl")
        return admin

    return {"anonymous": anonymous, "gateway": as_gateway, "admin": as_admin}


def _check(response, method: str, path: str, what: str) -> None:  # noqa: ANN001
    where = f"{method} {path[:120]} [{what}]"
    assert response.status_code < 500, (where, response.status_code, response.get_data()[:300])
    if response.status_code >= 400 and path.startswith(("/api/", "/oauth/", "/.well-known/")):
        assert response.is_json, (where, response.status_code, response.get_data()[:200])


@pytest.mark.parametrize("endpoint", _endpoints())
def test_no_hostile_input_yields_a_5xx(app, client, identities, endpoint):
    app.config["WTF_CSRF_ENABLED"] = False  # reach the views; CSRF has its own test
    (rule,) = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint][:1]
    allowed = [m for m in METHODS if m in rule.methods]
    # Methods another route serves at the same path (GET and POST /audit/checkpoints) are its.
    elsewhere = {m for r in app.url_map.iter_rules() if r.rule == rule.rule and r is not rule
                 for m in r.methods}
    for method in METHODS:
        if method in elsewhere and method not in allowed:
            continue
        if method not in allowed:
            response = client.open(_ok_path(rule), method=method)
            _check(response, method, _ok_path(rule), "method not allowed")
            # 405, or what a route with a variable part at the same place answers (GET
            # /api/v1/decisions/evaluate is GET /api/v1/decisions/<decision_id>: 401).
            assert 400 <= response.status_code < 500
            continue
        for who, become in identities.items():
            requests = []
            for value in PATH_VALUES if rule.arguments else []:
                requests.append((_paths(rule, value), {}, f"{who} path {value[:20]}"))
            for value in QUERY_VALUES:
                # All names at once, and (past authentication) each on its own, so that one
                # refused parameter does not hide what another would do.
                query = "&".join(f"{n}={value}" for n in QUERY_NAMES)
                requests.append((f"{_ok_path(rule)}?{query}", {}, f"{who} query {value[:20]}"))
                if who != "anonymous" and method == "GET" and value in SINGLE_VALUES:
                    requests += [(f"{_ok_path(rule)}?{n}={value}", {}, f"{who} {n}={value[:20]}")
                                 for n in QUERY_NAMES]
            if method != "GET":
                for body in JSON_BODIES + RAW_BODIES:
                    requests.append((_ok_path(rule), {"data": body, "content_type": "application/json"},
                                     f"{who} body {body[:30]!r}"))
                for form in FORM_BODIES:
                    requests.append((_ok_path(rule), {"data": form}, f"{who} form {list(form)[:2]}"))
            for path, kw, what in requests:
                headers = become()
                _check(client.open(path, method=method, headers=headers, **kw), method, path, what)

