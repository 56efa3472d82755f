"""Security invariants that hold across the whole registry, not one feature.

(b) after a full gateway flow (register with a secret, token by HTTP Basic, decide, report usage,
    revoke), no table holds the client secret or the access token in plain text (only hashes);
(c) every web form POST refuses a request without a CSRF token, changing nothing;
(d) a decision request carrying a BSN (as study key or as pseudonym) is a 400 that stores nothing.
"""

from __future__ import annotations

import re

import base64
import json

import pytest
from sqlalchemy import func, select

from registry.auth.secrets import hash_secret
from registry.db import metadata
from registry.services import gateways as gateway_service
from registry.web.views import SESSION_KEY
from tests.factories import SYSTEM, browser_login

# Nine digits that pass the BSN eleven-test (well-known test numbers, no real person).
BSNS = ["111222333", "123456782"]


def _basic(client_id: str, secret: str) -> dict:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _decision_body(tool: str, study_key: str = "sec-study-1", **extra) -> dict:
    body = {"tool": tool, "purpose": "clinical-care",
            "study": {"study_key": study_key, "modality": "DX", "body_part": "HAND",
                      "patient_age_years": 9.5, "patient_sex": "M"}}
    body.update(extra)
    return body


def _gateway_flow(client, session, clock, world) -> tuple[str, str]:
    """Register a gateway with a secret, get a token with HTTP Basic, decide, report usage."""
    gateway, secret = gateway_service.register_gateway(session, actor=SYSTEM, clock=clock,
                                                       hospital_id=world.hospital.id, name="sec-gw")
    session.commit()
    assert secret and secret.startswith("aifi_cs_")
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=_basic(gateway.client_id, secret))
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    decided = client.post("/api/v1/decisions", json=_decision_body(world.tool.slug), headers=bearer)
    assert decided.status_code == 200 and decided.get_json()["decision"] == "permit", decided.get_json()
    usage = client.post("/api/v1/usage", headers=bearer, json={"events": [{
        "event_id": "sec-ev-1", "decision_id": decided.get_json()["decision_id"],
        "outcome": "completed", "occurred_at": clock.now().isoformat()}]})
    assert usage.status_code == 200 and usage.get_json()["accepted"] == 1, usage.get_json()
    # A token the gateway no longer needs, revoked: the revoke path is logged too.
    assert client.post("/oauth/revoke", data={"token": token},
                       headers=_basic(gateway.client_id, secret)).status_code == 200
    return secret, token


def _every_stored_value(session):  # noqa: ANN202
    for table in metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column, value in row.items():
                if value is None:
                    continue
                text = value if isinstance(value, str) else (
                    json.dumps(value, default=str) if isinstance(value, (dict, list)) else
                    value.decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value))
                yield table.name, column, text


def test_no_table_holds_the_secret_or_the_token_in_plain_text(client, session, clock, world):
    secret, token = _gateway_flow(client, session, clock, world)
    secret_part, token_part = secret.removeprefix("aifi_cs_"), token.removeprefix("aifi_at_")
    hashes_seen, found = set(), []
    for table, column, text in _every_stored_value(session):
        if secret_part in text:
            found.append(("secret", table, column))
        if token_part in text:
            found.append(("token", table, column))
        for name, value in (("secret", secret), ("token", token)):
            if hash_secret(value) in text:
                hashes_seen.add(name)
    assert found == []
    # The scan did see this test's rows: both hashes are stored, as they should be.
    assert hashes_seen == {"secret", "token"}


def _web_posts(app) -> list[str]:  # noqa: ANN001
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.rule.startswith(("/api/", "/oauth/")):
            path = re.sub(r"<int:\w+>", "1", rule.rule)
            for arg in rule.arguments:
                path = path.replace(f"<{arg}>", "x")
            paths.append(path)
    return sorted(paths)


def test_every_web_post_refuses_a_request_without_a_csrf_token(app, client, session):
    app.config["WTF_CSRF_ENABLED"] = True
    posts = _web_posts(app)
    assert {"/login", "/logout"} <= set(posts)
    for path in posts:
        for logged_in in (False, True):
            with client.session_transaction() as web_session:
                web_session.clear()
            if logged_in:
                browser_login(client, session, "admin@demo.aifi.nl")
            with client.session_transaction() as web_session:
                before = web_session.get(SESSION_KEY)
            response = client.post(path, data={"email": "admin@demo.aifi.nl",
                                               "password": "aifi-demo-2026"})
            assert response.status_code == 400, (path, logged_in, response.status_code)
            with client.session_transaction() as web_session:
                # Refused before the view ran: a login did not happen, a logout did not either.
                assert web_session.get(SESSION_KEY) == before, path
                assert (before is not None) == logged_in
            # With a wrong token it is refused just the same.
            response = client.post(path, data={"csrf_token": "forged"})
            assert response.status_code == 400, (path, "forged token")


def _counts(session) -> dict[str, int]:
    return {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


@pytest.mark.parametrize("bsn", BSNS)
@pytest.mark.parametrize("where", ["study_key", "patient_pseudonym"])
def test_a_bsn_in_a_decision_request_is_a_400_that_stores_nothing(client, session, clock, world,
                                                                   bsn, where):
    from tests.factories import bearer

    headers = bearer(session, clock, world.gateway)
    before = _counts(session)
    body = (_decision_body(world.tool.slug, study_key=bsn) if where == "study_key"
            else _decision_body(world.tool.slug, patient_pseudonym=bsn))
    for path, extra in (("/api/v1/decisions", {}), ("/api/v1/decisions/evaluate", {"at": "2026-06-01"})):
        response = client.post(path, json=dict(body, **extra), headers=headers)
        assert response.status_code == 400, (path, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        field = "study.study_key" if where == "study_key" else "patient_pseudonym"
        assert field in error["fields"], error
        assert bsn not in json.dumps(error), "the refusal must not echo the number back"
    session.expire_all()
    assert _counts(session) == before
    assert [(t, c) for t, c, text in _every_stored_value(session) if bsn in text] == []


def test_the_same_request_without_a_bsn_is_stored(client, session, clock, world):
    """The counterpart of the test above, so that "stores nothing" can fail."""
    from tests.factories import bearer

    headers = bearer(session, clock, world.gateway)
    before = _counts(session)
    response = client.post("/api/v1/decisions", json=_decision_body(world.tool.slug, study_key="k-1"),
                           headers=headers)
    assert response.status_code == 200
    session.expire_all()
    after = _counts(session)
    assert after["decisions"] == before["decisions"] + 1
    assert after["audit_entries"] == before["audit_entries"] + 1
