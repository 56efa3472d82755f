"""Validation at the edge: the typed parsers, JSON limits on every JSON route, JSON errors under
/api and /oauth (404, 405, 500 included), and NUL characters that never become a 503."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from registry.validation import (InvalidInput, bounded_int, check_json_text, clean_text, iso_date,
                                 json_depth)
from tests.auth.helpers import basic, staff_bearer
from tests.factories import child_hand


@pytest.mark.parametrize("raw", ["²", "١٢", "-1", "1e3", " ", "", "0x10", "9" * 20, True, None, 1.5])
def test_bounded_int_refuses_what_int_or_the_database_cannot_hold(raw):
    with pytest.raises(InvalidInput):
        bounded_int(raw, "n")


def test_bounded_int_range():
    assert bounded_int("42", "n") == 42 and bounded_int(" 7 ", "n") == 7
    assert bounded_int(str(2**63 - 1), "n") == 2**63 - 1
    with pytest.raises(InvalidInput):
        bounded_int(str(2**63), "n")
    with pytest.raises(InvalidInput):
        bounded_int("11", "n", high=10)


@pytest.mark.parametrize("raw", ["9999-12-31", "0001-01-01", "2026-02-30", "2026-1-1", "today",
                                 "２０２６-０１-０１", 20260101])
def test_iso_date_refuses_the_ends_of_the_calendar_and_non_dates(raw):
    with pytest.raises(InvalidInput):
        iso_date(raw, "d")


def test_iso_date_accepts_a_sane_date():
    assert iso_date("2026-06-01", "d") == date(2026, 6, 1)


@pytest.mark.parametrize("raw", ["a\x00b", "line\nbreak", "\x7f", 5])
def test_clean_text_refuses_control_characters(raw):
    with pytest.raises(InvalidInput):
        clean_text(raw, "t", max_length=50)


def test_json_depth_skips_brackets_inside_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[[[["}]}') == 3
    assert json_depth(b'"\\"[[["') == 0


@pytest.mark.parametrize("raw, depth", [
    (b'[["a\\\\"], {"b": "}"}]', 2),  # an escaped backslash ends before the closing quote
    (b'[[["open [[[[', 3),  # a string left open: what follows is inside it, as for a parser
    (b'[["\\', 2), (b'[{"a": "\\"}]', 2), (b'"', 0), (b'', 0),
    (b'[' + b'"\\""' * 3 + b']', 1),
])
def test_json_depth_of_awkward_strings(raw, depth):
    assert json_depth(raw) == depth


def test_json_depth_is_the_nesting_of_any_document():
    """Against the structure itself, for documents whose strings hold every character that could
    fool a screen: quotes, backslashes (single, paired, before quotes), brackets, escapes."""
    rng = random.Random(13)
    pieces = ['"', "\\", "\\\\", '\\"', "[", "]", "{", "}", "a", "\u0022", "é", "\n", " "]

    def value(depth):  # noqa: ANN001, ANN202
        kind = rng.choice(["str", "list", "dict"] if depth < 6 else ["str"])
        if kind == "str":
            return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        if kind == "list":
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {value(6): value(depth + 1) for _ in range(rng.randint(0, 3))}

    def nesting(v):  # noqa: ANN001, ANN202
        if isinstance(v, list):
            return 1 + max((nesting(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((nesting(x) for x in v.values()), default=0)
        return 0

    for _ in range(2000):
        doc = value(0)
        for ensure_ascii in (True, False):
            assert json_depth(json.dumps(doc, ensure_ascii=ensure_ascii).encode()) == nesting(doc), doc


def test_json_depth_reads_a_body_of_escaped_quotes_once():
    """An open string full of escaped quotes: the screen used to search again from every quote
    to the end of the text (quadratic; 64,000 of them, a 256 KB body, took most of a minute).
    A million of them (two million bytes), in a child process given a minute: only a linear screen
    answers."""
    code = ("from registry.validation import json_depth; "
            "print(json_depth(b'[\"' + b'\\\\\"' * 1_000_000))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


@pytest.mark.parametrize("raw, refused", [
    (b'{"a": "\\u0000"}', True), (b'{"a": "x\\\\\\u0000"}', True),
    (b'{"a": "\\\\u0000"}', False),  # an escaped backslash, then the text "u0000"
    (b'{"a": "\\u00001"}', True), (b'[' * 40 + b']' * 40, True), (b'[' * 32 + b']' * 32, False),
])
def test_check_json_text(raw, refused):
    if refused:
        with pytest.raises(InvalidInput):
            check_json_text(raw)
    else:
        check_json_text(raw)


@pytest.mark.parametrize("path, method", [("/api/v1/audit/verify", "post"), ("/api/v1/gateways", "post"),
                                          ("/api/v1/decisions", "post"), ("/oauth/introspect", "post")])
def test_deep_json_is_a_400_on_every_json_route(client, session, clock, path, method):
    headers = staff_bearer(session, clock, "admin@demo.aifi.nl")
    response = getattr(client, method)(path, data="[" * 5000 + "]" * 5000,
                                       content_type="application/json", headers=headers)
    assert response.status_code == 400 and response.is_json


def test_nul_never_yields_a_503(app, client, session, clock, world, headers):
    """On PostgreSQL a NUL in text made the database refuse the statement, reported as an outage."""
    app.config["WTF_CSRF_ENABLED"] = False
    cases = {
        "path": client.get("/api/v1/decisions/a%00b", headers=headers),
        "body field": client.post("/api/v1/decisions", headers=headers, json=dict(
            child_hand(world.tool.slug, "nul").model_dump(mode="json", exclude_none=True),
            tool_version="1.0\x00")),
        "client id (Basic)": client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                         headers=basic("gw\x00", "aifi_cs_x")),
        "client id (form)": client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                              "client_id": "gw\x00"}),
        "login e-mail": client.post("/login", data={"email": "a\x00@demo.aifi.nl", "password": "x"}),
        "audit filter": client.get("/api/v1/audit/entries?actor=a%00",
                                   headers=staff_bearer(session, clock, "auditor@demo.aifi.nl")),
        "web path": client.get("/audit/object/x%00/y"),
    }
    for where, response in cases.items():
        assert response.status_code in (400, 401), (where, response.status_code)


def test_errors_under_api_and_oauth_are_json(client, app, monkeypatch, session, clock):
    assert client.get("/api/v1/nothing-here").get_json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/oauth/nothing-here").get_json()["error"] == "invalid_request"
    assert client.delete("/api/v1/decisions").get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert client.get("/oauth/token").status_code == 405 and client.get("/oauth/token").is_json

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("a bug")

    from registry.services import audit

    monkeypatch.setattr(audit, "search_entries", broken)
    response = client.get("/api/v1/audit/entries", headers=staff_bearer(session, clock,
                                                                       "auditor@demo.aifi.nl"))
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "INTERNAL_ERROR"
    assert "a bug" not in response.get_data(as_text=True)  # the text stays in the log


def test_query_integers_beyond_64_bits_are_a_400(client, session, clock, world):
    for query in ("after_seq=99999999999999999999", "limit=%C2%B2", "after_seq=-1"):
        response = client.get(f"/api/v1/audit/checkpoints?{query}")
        assert response.status_code == 400 and response.is_json, query


def test_audit_period_at_the_end_of_the_calendar_is_a_400(client, session, clock):
    headers = staff_bearer(session, clock, "auditor@demo.aifi.nl")
    for query in ("to=9999-12-31", "from=0001-01-01", "organisation=%C2%B2"):
        response = client.get(f"/api/v1/audit/entries?{query}", headers=headers)
        assert response.status_code == 400, query


@pytest.mark.parametrize("at", ["9999-12-31", "0001-01-01"])
def test_evaluating_at_the_ends_of_the_calendar_is_not_a_5xx(client, world, headers, at):
    body = dict(child_hand(world.tool.slug, "ends").model_dump(mode="json", exclude_none=True), at=at)
    response = client.post("/api/v1/decisions/evaluate", json=body, headers=headers)
    assert response.status_code in (200, 400), response.get_data()[:300]
