"""Clinical governance through the pages and the staff API: the West demo hospital's incomplete
deployment, completed by one clinical owner and approved by the other; the four-eyes rule; incidents
with their duties; webhooks with a secret shown once."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.db.clinical import Deployment, Incident
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.db.users import User
from registry.services import api_tokens
from tests.factories import SYSTEM
from tests.web.helpers import csrf_token, login

PREPARER, OWNER = "radioloog@west.demo.aifi.nl", "klinisch@west.demo.aifi.nl"


def _west(session):  # noqa: ANN001, ANN202
    west = session.scalar(select(Organisation).where(Organisation.ura == "99000105"))
    tool = session.scalar(select(Tool).where(Tool.slug == "bonexpert"))
    dep = session.scalar(select(Deployment).where(Deployment.hospital_id == west.id, Deployment.tool_id == tool.id))
    return west, dep


def _cell(client) -> str:  # noqa: ANN001
    html = client.get("/?lang=en").get_data(as_text=True)
    import re

    match = re.search(r'data-hospital="99000105" data-tool="bonexpert" data-state="(\w+)"', html)
    assert match, "West's BoneXpert cell is not on the dashboard"
    return match.group(1)


def _post(client, url: str, page: str, data: dict):  # noqa: ANN001, ANN202
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def test_the_demo_west_deployment_is_incomplete_and_denies(client, session):
    _, dep = _west(session)
    assert dep.status == "draft"
    login(client, OWNER)
    assert _cell(client) == "deny"
    html = client.get("/?lang=nl").get_data(as_text=True)
    assert "niet goedgekeurd voor klinisch gebruik" in html


def test_preparer_completes_owner_approves_and_the_cell_turns_green(client, session):
    _, dep = _west(session)
    page = f"/deployments/{dep.id}"
    login(client, OWNER)
    # Incomplete: the approval is refused and nothing changes.
    r = _post(client, f"/deployments/{dep.id}/approve", page, {})
    assert r.status_code == 302
    assert "onvolledig" in client.get(page + "?lang=nl").get_data(as_text=True)
    session.expire_all()
    assert session.get(Deployment, dep.id).status == "draft"
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))})

    login(client, PREPARER)
    edit = f"/deployments/{dep.id}/edit"
    form_html = client.get(edit).get_data(as_text=True)
    bad = client.post(edit, data={"csrf_token": csrf_token(form_html), "versions": "3.2",
                                  "acceptance_agreement_pct": "140"})
    assert bad.status_code == 400 and 'class="error-summary"' in bad.get_data(as_text=True)
    good = client.post(edit, data={
        "csrf_token": csrf_token(form_html), "versions": "3.2", "ifu_document": "IFU", "ifu_sha256": "ab" * 32,
        "overseers": "Dr. X; radiologist; 2026-01-10", "dpia_reference": "DPIA-1", "dpia_date": "2026-01-01",
        "works_council_informed_on": "2026-01-02", "acceptance_cases": "120", "acceptance_agreement_pct": "95",
        "acceptance_date": "2026-02-01", "acceptance_by": "Fysicus", "monitoring_plan": "monthly",
        "art27_applicable": "no", "art49_applicable": "no"})
    assert good.status_code == 302, re.findall(r"<li><a href=\"#[^\"]+\">[^<]+</a>", good.get_data(as_text=True))
    # The preparer holds the approve permission too, but not for what they filled in.
    _post(client, f"/deployments/{dep.id}/approve", page, {})
    session.expire_all()
    assert session.get(Deployment, dep.id).status == "draft"
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))})

    login(client, OWNER)
    _post(client, f"/deployments/{dep.id}/approve", page, {"reason": "local test fine"})
    session.expire_all()
    assert session.get(Deployment, dep.id).status == "approved"
    assert _cell(client) == "permit"

    # An incident that suspends the deployment turns the cell red again.
    west, _ = _west(session)
    tool = session.scalar(select(Tool).where(Tool.slug == "bonexpert"))
    r = _post(client, "/incidents/new", "/incidents/new", {
        "hospital_id": str(west.id), "tool_id": str(tool.id), "tool_version_id": "", "kind": "serious_incident",
        "severity": "other", "description": "wrong bone age", "occurred_on": "2026-06-01",
        "aware_on": "2026-06-01", "action": "suspend_deployment"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    assert _cell(client) == "deny"
    incident = session.scalar(select(Incident).where(Incident.hospital_id == west.id))
    detail = client.get(f"/incidents/{incident.reference}?lang=nl").get_data(as_text=True)
    assert "vigilantiemelding (MDR art. 87)" in detail


def test_another_hospitals_owner_sees_no_west_deployment(client, session):
    _, dep = _west(session)
    login(client, "klinisch@oost.demo.aifi.nl")
    assert client.get(f"/deployments/{dep.id}").status_code == 404
    assert client.post(f"/deployments/{dep.id}/approve",
                       data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))}).status_code == 404


def test_overdue_duties_stand_out_on_the_dashboard(client):
    login(client, "admin@demo.aifi.nl")
    html = client.get("/?lang=nl").get_data(as_text=True)
    assert 'id="attention-incidents"' in html and "aanbieder geïnformeerd" in html


def test_webhook_secret_is_shown_once(client, session):
    login(client, "admin@demo.aifi.nl")
    r = _post(client, "/webhooks", "/webhooks", {"url": "https://ops.example/hook",
                                                  "events": ["deployment.suspended"]})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "whsec_" in html
    assert "whsec_" not in client.get("/webhooks").get_data(as_text=True)


def _token(session, clock, email: str) -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="t")
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def test_the_staff_api_approval_rules(client, session, clock):
    _, dep = _west(session)
    preparer, owner = _token(session, clock, PREPARER), _token(session, clock, OWNER)
    incomplete = client.post(f"/api/v1/deployments/{dep.id}/approve", json={}, headers=owner)
    assert incomplete.status_code == 400 and "acceptance_test" in incomplete.get_json()["error"]["fields"]["checklist"]
    patched = client.patch(f"/api/v1/deployments/{dep.id}", headers=preparer, json={
        "acceptance_cases": 100, "acceptance_agreement_pct": 91, "acceptance_date": "2026-02-01",
        "acceptance_by": "Fysicus"})
    assert patched.status_code == 200 and patched.get_json()["missing"] == []
    assert client.post(f"/api/v1/deployments/{dep.id}/approve", json={}, headers=preparer).status_code == 409
    approved = client.post(f"/api/v1/deployments/{dep.id}/approve", json={"reason": "ok"}, headers=owner)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert client.post(f"/api/v1/deployments/{dep.id}/suspend", json={}, headers=owner).status_code == 400
    suspended = client.post(f"/api/v1/deployments/{dep.id}/suspend", json={"reason": "drift"}, headers=owner)
    assert suspended.get_json()["status"] == "suspended"
    listed = client.get("/api/v1/deployments?status=suspended", headers=owner).get_json()
    assert [d["id"] for d in listed["items"]] == [dep.id]  # scoped: only West's own


def test_the_staff_api_incident_and_duty(client, session, clock):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    r = client.post("/api/v1/incidents", headers=admin, json={
        "kind": "serious_incident", "severity": "public_health_threat", "hospital_ura": "90000033",
        "tool": "cina-ipe", "description": "missed embolisms", "occurred_on": "2026-05-31",
        "aware_on": "2026-06-01", "action": "suspend_deployment"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert {d["duty"]: d["due_on"] for d in body["duties"]}["vigilance_report"] == "2026-06-03"
    done = client.post(f"/api/v1/incidents/{body['reference']}/duties/provider_informed", headers=admin,
                       json={"told_whom": "Avicenna.AI vigilance", "told_what": "facts", "told_on": "2026-06-01"})
    assert done.status_code == 200
    assert [d["closed_at"] is not None for d in done.get_json()["duties"] if d["duty"] == "provider_informed"] == [True]
    assert client.post("/api/v1/incidents", headers=admin, json={"kind": "nonsense"}).status_code == 400


def _incident_with_duties_recorded(client, admin) -> dict:  # noqa: ANN001
    r = client.post("/api/v1/incidents", headers=admin, json={
        "kind": "risk", "hospital_ura": "90000033", "tool": "cina-ipe", "description": "drift in sensitivity",
        "occurred_on": "2026-05-31", "aware_on": "2026-06-01", "action": "suspend_deployment"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    for duty in body["duties"]:
        assert client.post(f"/api/v1/incidents/{body['reference']}/duties/{duty['duty']}", headers=admin,
                           json={"told_whom": "vendor", "told_what": "facts", "told_on": "2026-06-01"}).status_code == 200
    return body


def test_the_staff_api_closes_an_incident_with_its_conclusion(client, session, clock):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    ref = _incident_with_duties_recorded(client, admin)["reference"]
    assert client.post(f"/api/v1/incidents/{ref}/close", headers=admin, json={}).status_code == 400
    r = client.post(f"/api/v1/incidents/{ref}/close", headers=admin, json={"conclusion": "threshold recalibrated"})
    assert r.status_code == 200, r.get_json()
    closed = r.get_json()
    assert closed["status"] == "closed" and closed["closed"]["conclusion"] == "threshold recalibrated"
    assert closed["closed"]["by_label"] == "admin@demo.aifi.nl"
    assert client.get(f"/api/v1/incidents/{ref}", headers=admin).get_json()["closed"]["conclusion"] \
        == "threshold recalibrated"
    assert [i["reference"] for i in client.get("/api/v1/incidents?status=closed", headers=admin)
            .get_json()["items"]] == [ref]
    again = client.post(f"/api/v1/incidents/{ref}/close", headers=admin, json={"conclusion": "again"})
    assert again.status_code == 400 and "status" in again.get_json()["error"]["fields"]
    # The suspension the incident made is still in force.
    dep = session.scalar(select(Deployment).join(Incident, Incident.deployment_id == Deployment.id)
                         .where(Incident.reference == ref))
    session.refresh(dep)
    assert dep.status == "suspended"
    reader = _token(session, clock, "lezer@demo.aifi.nl")
    assert client.post(f"/api/v1/incidents/{ref}/close", headers=reader,
                       json={"conclusion": "x"}).status_code in (401, 403)
    spec = client.get("/api/openapi.json").get_json()
    assert "post" in spec["paths"]["/api/v1/incidents/{key}/close"]


def test_an_incident_is_closed_on_its_page_in_dutch(client, session, clock):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    ref = _incident_with_duties_recorded(client, admin)["reference"]
    incident = session.scalar(select(Incident).where(Incident.reference == ref))
    login(client, "admin@demo.aifi.nl")
    page = f"/incidents/{ref}?lang=nl"
    html = client.get(page).get_data(as_text=True)
    assert "heft de opschorting niet op" in html and 'id="close-incident"' in html
    # Without the CSRF token nothing happens.
    assert client.post(f"/incidents/{incident.id}/close", data={"conclusion": "x"}).status_code == 400
    r = _post(client, f"/incidents/{incident.id}/close", page, {"conclusion": "drempel opnieuw ingesteld"})
    assert r.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "drempel opnieuw ingesteld" in html and "Gesloten door" in html
    assert 'id="close-incident"' not in html
    session.refresh(incident)
    assert incident.status == "closed"
