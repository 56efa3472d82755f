"""NEN 7513 access logging: every kind of access yields its audit entry, with the fields of the
existing entries (who, for which organisation, what, when, outcome, from where); a decision
writes no more than its own entry.

One row per access kind: (what to do, event_type, outcome, actor kind, object_type)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.db.audit import AuditEntry
from tests.auth.helpers import basic, secret_gateway, staff_bearer
from tests.factories import bearer, browser_login, child_hand, make_world

PSEUDONYM = "ab" * 32
AUDITOR = "auditor@demo.aifi.nl"


@pytest.fixture
def ctx(app, client, session, clock):
    """A world with one decision that names a pseudonym, a gateway with a secret, an auditor's
    staff token, a procurement officer's staff token."""
    app.config["WTF_CSRF_ENABLED"] = False
    world = make_world(session, clock)
    session.commit()
    gw_headers = bearer(session, clock, world.gateway)
    body = child_hand(world.tool.slug, "access-1", patient_pseudonym=PSEUDONYM)
    decided = client.post("/api/v1/decisions", json=body.model_dump(mode="json", exclude_none=True),
                          headers=gw_headers)
    assert decided.status_code == 200
    gateway, secret = secret_gateway(session, clock, world.hospital)
    return {"world": world, "gw": gw_headers, "decision": decided.get_json()["decision_id"],
            "basic": basic(gateway.client_id, secret), "auditor": staff_bearer(session, clock, AUDITOR),
            "inkoop": staff_bearer(session, clock, "inkoop@demo.aifi.nl")}


def _login(c, ctx, password="aifi-demo-2026"):  # noqa: ANN001, ANN202
    return c.post("/login", data={"email": AUDITOR, "password": password})


def _lockout(c, ctx):  # noqa: ANN001, ANN202
    settings = c.application.extensions["registry"].settings
    for _ in range(settings.login_max_failures_per_account):
        _login(c, ctx, "wrong-password!")
    return _login(c, ctx)


def _logout(c, ctx):  # noqa: ANN001, ANN202
    _login(c, ctx)
    return c.post("/logout")


def _web_as(c, ctx, email, path):  # noqa: ANN001, ANN202
    browser_login(c, c.application.extensions["registry"].sessions(), email)
    return c.get(path)


ACCESS_KINDS = {
    "login success": (_login, "login", "success", "user", "user"),
    "login failure": (lambda c, x: _login(c, x, "wrong-password!"), "login", "failure", "anonymous", "account"),
    "login lock-out": (_lockout, "login", "denied", "anonymous", "account"),
    "logout": (_logout, "logout", "success", "user", "user"),
    "token issued": (lambda c, x: c.post("/oauth/token", data={"grant_type": "client_credentials"},
                                          headers=x["basic"]), "token", "success", "gateway", "gateway"),
    "client authentication failure": (
        lambda c, x: c.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=basic("gw_nobody", "aifi_cs_x")),
        "client-auth", "failure", "anonymous", "client"),
    "api 401": (lambda c, x: c.get("/api/v1/audit/entries"), "refused", "denied", "anonymous", "route"),
    "api 403": (lambda c, x: c.get("/api/v1/audit/entries", headers=x["inkoop"]),
                "refused", "denied", "user", "route"),
    "web 401": (lambda c, x: c.get("/audit"), "refused", "denied", "anonymous", "route"),
    "web 403": (lambda c, x: _web_as(c, x, "inkoop@demo.aifi.nl", "/audit"),
                "refused", "denied", "user", "route"),
    "decision detail with pseudonym": (
        lambda c, x: c.get(f"/api/v1/decisions/{x['decision']}", headers=x["auditor"]),
        "read", "success", "user", "decision"),
    "decision detail by its gateway": (
        lambda c, x: c.get(f"/api/v1/decisions/{x['decision']}", headers=x["gw"]),
        "read", "success", "gateway", "decision"),
    "audit search (api)": (lambda c, x: c.get("/api/v1/audit/entries", headers=x["auditor"]),
                           "read", "success", "user", "audit-trail"),
    "audit search (web)": (lambda c, x: _web_as(c, x, AUDITOR, "/audit"),
                           "read", "success", "user", "audit-trail"),
    "object history (api)": (lambda c, x: c.get(f"/api/v1/audit/objects/patient/{PSEUDONYM}",
                                                headers=x["auditor"]),
                             "read", "success", "user", "audit-trail"),
    "object history (web)": (lambda c, x: _web_as(c, x, AUDITOR, f"/audit/object/patient/{PSEUDONYM}"),
                             "read", "success", "user", "audit-trail"),
    "audit export": (lambda c, x: c.get("/api/v1/audit/export?format=jsonl", headers=x["auditor"]),
                     "export", "success", "user", "audit-trail"),
}


@pytest.mark.parametrize("kind", list(ACCESS_KINDS))
def test_each_access_kind_yields_its_audit_entry(client, session, ctx, kind):
    act, event_type, outcome, actor_kind, object_type = ACCESS_KINDS[kind]
    before = session.scalar(select(func.max(AuditEntry.id)))
    response = act(client, ctx)
    assert response.status_code < 500
    new = list(session.scalars(select(AuditEntry).where(AuditEntry.id > before)
                               .order_by(AuditEntry.id)))
    matching = [e for e in new if (e.event_type, e.outcome, e.object_type) == (event_type, outcome, object_type)]
    assert matching, [(e.event_type, e.outcome, e.object_type) for e in new]
    entry = matching[-1]
    assert entry.actor.split(":")[0] == actor_kind
    assert entry.network_access_point == "127.0.0.1"
    assert entry.recorded_at is not None and entry.action_code in "CRUDE"
    if event_type != "export":  # (the export entry predates access logging)
        assert entry.detail.get("request_id")  # ties the entry to the request's X-Request-ID
    if actor_kind == "gateway":
        assert entry.on_behalf_of_id == ctx["world"].hospital.id


def test_a_pseudonym_read_is_in_the_patients_history(client, session, ctx):
    client.get(f"/api/v1/decisions/{ctx['decision']}", headers=ctx["auditor"])
    history = client.get(f"/api/v1/audit/objects/patient/{PSEUDONYM}", headers=ctx["auditor"]).get_json()
    kinds = [(e["event_type"], e["actor"].split(":")[0]) for e in history["entries"]]
    assert ("decision", "gateway") in kinds and ("read", "user") in kinds


def test_a_withheld_pseudonym_is_not_logged_as_shown(client, session, clock, ctx):
    headers = staff_bearer(session, clock, "inkoop@demo.aifi.nl")
    # Procurement reads decisions (decisions:read) without a need to know the patient.
    assert client.get(f"/api/v1/decisions/{ctx['decision']}", headers=headers).status_code == 200
    entry = session.scalar(select(AuditEntry).where(AuditEntry.event_type == "read")
                           .order_by(AuditEntry.id.desc()).limit(1))
    assert entry.detail["pseudonym_shown"] is False
    assert all(o["type"] != "patient" for o in entry.objects)


def test_a_decision_writes_only_its_own_entry(client, session, ctx):
    """Access logging stays off the decision path: one decision, one entry."""
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    body = child_hand(ctx["world"].tool.slug, "access-2")
    assert client.post("/api/v1/decisions", json=body.model_dump(mode="json", exclude_none=True),
                       headers=ctx["gw"]).status_code == 200
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == before + 1
