"""The audit viewer: who may see it, filters, an object's history, exports, both languages."""

from __future__ import annotations

import pytest

from tests.factories import bearer, browser_login, child_hand, make_world


def login(client, session, email: str) -> None:
    browser_login(client, session, email)


@pytest.fixture
def world(client, session, clock):
    world = make_world(session, clock)
    session.commit()
    client.post("/api/v1/decisions", headers=bearer(session, clock, world.gateway),
                json=child_hand(world.tool.slug, "web-1").model_dump(mode="json", exclude_none=True))
    return world


@pytest.mark.parametrize("path", ["/audit", "/audit/object/tools/1", "/audit/export.csv"])
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", ["/audit", "/audit/object/tools/1", "/audit/export.csv"])
def test_without_audit_permission_is_403(client, session, path):
    login(client, session, "inkoop@demo.aifi.nl")
    assert client.get(path).status_code == 403


def test_auditor_filters_by_organisation_in_dutch_and_english(client, session, world):
    login(client, session, "auditor@demo.aifi.nl")
    page = client.get(f"/audit?organisation={world.hospital.id}&lang=nl").get_data(as_text=True)
    assert "Auditlog" in page and "Exporteren" in page
    # People and objects by name, with links to their pages (never "decision/<id>" alone).
    assert "/decisions/" in page and world.gateway.name in page and world.hospital.name in page
    assert page.count("<tr>") == 2  # the header and the one decision
    english = client.get(f"/audit?organisation={world.hospital.id}&lang=en").get_data(as_text=True)
    assert "Audit trail" in english and "Export" in english


def test_filter_by_action_and_period(client, session, world, clock):
    login(client, session, "auditor@demo.aifi.nl")
    day = clock.now().date().isoformat()
    page = client.get(f"/audit?organisation={world.hospital.id}&action=C&from={day}&to={day}&lang=en")
    assert "(execute)" not in page.get_data(as_text=True)
    bad = client.get("/audit?from=31-12-2026")
    assert bad.status_code == 400


def test_object_history_page(client, session, world):
    login(client, session, "auditor@demo.aifi.nl")
    page = client.get(f"/audit/object/tool/{world.tool.slug}?lang=en").get_data(as_text=True)
    assert f"History of tool/{world.tool.slug}" in page and "/decisions/" in page


def test_privacy_officer_reads_but_cannot_export(client, session, world):
    login(client, session, "privacy@demo.aifi.nl")
    page = client.get("/audit?lang=en").get_data(as_text=True)
    assert "audit-export" not in page
    assert client.get("/audit/export.csv").status_code == 403


@pytest.mark.parametrize("fmt, mimetype", [("csv", "text/csv"), ("jsonl", "application/x-ndjson"),
                                           ("fhir", "application/fhir+json")])
def test_auditor_exports(client, session, world, fmt, mimetype):
    login(client, session, "auditor@demo.aifi.nl")
    response = client.get(f"/audit/export.{fmt}?organisation={world.hospital.id}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert "attachment" in response.headers["Content-Disposition"]
