"""The staff API: the OpenAPI 3.1 document, personal API tokens, the generic object routes and the
routing matrix."""

from __future__ import annotations

import json

from click.testing import CliRunner
from openapi_spec_validator import validate
from sqlalchemy import func, select

from registry.api.openapi import api_rules
from registry.db.decisions import Decision
from registry.db.oauth import AccessToken
from registry.db.users import User
from registry.services import api_tokens
from tests.factories import SYSTEM
from tests.web.helpers import csrf_token, login


def _token(session, clock, email: str, **kw) -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id,
                                               name="test", **kw)
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def test_the_openapi_document_validates_and_lists_every_api_route(app, client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    listed = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    missing = []
    for rule in api_rules(app):
        path = rule.rule.replace("<int:", "<")
        import re

        path = re.sub(r"<(\w+)>", r"{\1}", path)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method) not in listed:
                missing.append(f"{method} {path} ({rule.endpoint})")
    assert not missing, f"API routes missing from the OpenAPI document: {missing}"
    assert ("/api/v1/matrix", "GET") in listed and ("/oauth/token", "POST") in listed
    assert doc["paths"]["/api/v1/organisations"]["get"]["x-required-permissions"] == ["organisations:read"]


def test_api_docs_page_is_readable(client):
    html = client.get("/api/docs?lang=en").get_data(as_text=True)
    assert "GET /api/v1/matrix" in html and "POST /api/v1/decisions" in html


def test_a_personal_token_from_the_ui_is_shown_once_and_stored_hashed(client, session):
    login(client, "inkoop@demo.aifi.nl")
    page = client.get("/tokens")
    response = client.post("/tokens", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                            "name": "reporting script", "days": "10",
                                            "scopes": ["contracts:read", "organisations:read"]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    token = html.split('id="token-value">', 1)[1].split("<", 1)[0]
    assert token.startswith("aifi_at_")
    assert response.headers["Cache-Control"] == "no-store"
    assert token not in client.get("/tokens").get_data(as_text=True)  # shown once
    row = session.scalar(select(AccessToken).where(AccessToken.name == "reporting script"))
    assert row.scope == "contracts:read organisations:read" and token not in (row.token_hash or "")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/contracts", headers=headers).status_code == 200
    # Narrower than the role: tools:read is held by procurement, but not by this token.
    assert client.get("/api/v1/tools", headers=headers).status_code == 403
    assert session.scalar(select(AccessToken.last_used_at).where(AccessToken.id == row.id)) is not None
    revoke = client.post(f"/tokens/{row.id}/revoke",
                         data={"csrf_token": csrf_token(client.get("/tokens").get_data(as_text=True))})
    assert revoke.status_code == 302
    assert client.get("/api/v1/contracts", headers=headers).status_code == 401


def test_a_token_cannot_be_wider_than_the_role(client, session, clock):
    import pytest

    from registry.services.errors import ValidationFailed

    user = session.scalar(select(User).where(User.email == "lezer@demo.aifi.nl"))
    with pytest.raises(ValidationFailed) as err:
        api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="x",
                                         scopes=["users:manage"])
    assert "scopes" in err.value.fields


def test_cli_token_prints_json_with_the_users_permissions(engine, tmp_path, monkeypatch):
    from registry.cli import main

    monkeypatch.setenv("REGISTRY_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(main, ["users", "token", "--email", "auditor@demo.aifi.nl", "--days", "7"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["token"].startswith("aifi_at_") and out["expires_at"].endswith("Z")
    with engine.begin() as conn:
        row = conn.execute(select(AccessToken.scope, AccessToken.expires_at, AccessToken.issued_at)
                           .where(AccessToken.name.like("cli %"))).first()
        conn.execute(AccessToken.__table__.delete().where(AccessToken.name.like("cli %")))
    assert "audit:read" in row.scope.split() and (row.expires_at - row.issued_at).days == 7


def test_generic_object_routes_list_filter_and_show(client, session, clock):
    headers = _token(session, clock, "admin@demo.aifi.nl")
    body = client.get("/api/v1/organisations?kind=hospital&per_page=3&sort=name", headers=headers).get_json()
    assert body["total"] >= 9 and len(body["items"]) == 3 and body["per_page"] == 3
    assert [o["name"] for o in body["items"]] == sorted(o["name"] for o in body["items"])
    tool = client.get("/api/v1/tools/bonexpert", headers=headers).get_json()
    assert tool["vendor"]["name"] == "Visiana" and tool["versions"]
    assert client.get("/api/v1/tools/no-such-tool", headers=headers).status_code == 404
    bad = client.get("/api/v1/organisations?sort=password", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["fields"]["sort"]


def test_matrix_api_shows_the_demo_world_and_stores_nothing(client, session, clock):
    headers = _token(session, clock, "jurist@demo.aifi.nl")
    before = session.scalar(select(func.count()).select_from(Decision))
    body = client.get("/api/v1/matrix?on=2026-06-01&purpose=clinical-care", headers=headers).get_json()
    assert session.scalar(select(func.count()).select_from(Decision)) == before
    cells = {(c["hospital"]["ura"], c["tool"]): c for c in body["cells"]}
    assert body["on"] == "2026-06-01" and body["purpose"] == "clinical-care"
    assert cells[("90000033", "bonexpert")]["decision"] == "permit"
    assert [r["code"] for r in cells[("99000101", "bonexpert")]["reasons"]] == ["AGREEMENT_NOT_SIGNED"]
    assert [r["code"] for r in cells[("99000102", "bonexpert")]["reasons"]] == ["AGREEMENT_NOT_IN_FORCE"]
    assert [r["code"] for r in cells[("99000103", "cina-ipe")]["reasons"]] == ["QUOTA_EXHAUSTED"]
    assert client.get("/api/v1/matrix?purpose=nonsense", headers=headers).status_code == 400
    assert client.get("/api/v1/matrix?on=2026-13-01", headers=headers).status_code == 400
    # A day is written one way: not as Unix time (pydantic's lax date reads "0" as 1970-01-01,
    # found by the fuzzer), not with a time, not beyond the calendar the registry deals in.
    for day in ("0", "-1.1e-254", "2026-06-01T00:00", "3000-01-01"):
        answer = client.get(f"/api/v1/matrix?on={day}", headers=headers)
        assert answer.status_code == 400 and "on" in json.dumps(answer.get_json()), day


def test_search_api_finds_only_what_the_caller_may_see(client, session, clock):
    national = client.get("/api/v1/search?q=Demo Ziekenhuis", headers=_token(session, clock, "lezer@demo.aifi.nl"))
    titles = {h["title"] for h in national.get_json()["hits"]}
    assert {"Demo Ziekenhuis Noord", "Demo Ziekenhuis Oost"} <= titles
    own = client.get("/api/v1/search?q=Demo Ziekenhuis",
                     headers=_token(session, clock, "privacy@oost.demo.aifi.nl")).get_json()
    assert {h["title"] for h in own["hits"] if h["type"] == "organisations"} == {"Demo Ziekenhuis Oost"}
    assert client.get("/api/v1/search?q=", headers=_token(session, clock, "lezer@demo.aifi.nl")).status_code == 400
