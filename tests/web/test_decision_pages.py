"""A decision's explanation page and the decision list's filters."""

from __future__ import annotations

import re

from registry.services import decisions as decision_service
from registry.services import tools as tool_service
from tests.factories import SYSTEM, child_hand, make_world
from tests.web.helpers import login

PSEUDONYM = "ab" * 32


def _decide(session, clock, app, world, key: str, **overrides):  # noqa: ANN001, ANN202
    outcome = decision_service.decide(session, actor=world.actor, clock=clock,
                                      engine=app.extensions["registry"].policy,
                                      request=child_hand(world.tool.slug, study_key=key, **overrides))
    session.commit()
    return outcome.decision


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_explanation_of_a_deny(app, client, session, clock, world):
    tool_service.suspend_tool_version(session, actor=SYSTEM, clock=clock, tool_version_id=world.version.id,
                                      reason="Field safety notice")
    decision = _decide(session, clock, app, world, "explain-1", patient_pseudonym=PSEUDONYM,
                       study={"contrast": False})
    assert decision.outcome == "deny"
    login(client, "auditor@demo.aifi.nl")
    response = client.get(f"/decisions/{decision.id}?lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = _text(html)
    assert "denied" in text and "This tool version is suspended." in text and "(TOOL_SUSPENDED)" in text
    assert "Technical detail:" in text and "is suspended since 2026-06-01" in text
    # The terms it relied on, each a link to its page.
    for endpoint, ref in (("licences", world.licence), ("contracts", world.contract), ("agreements", world.agreement)):
        assert f'href="/{endpoint}/{ref.id}">{ref.reference}</a>' in html, endpoint
    assert f'href="/tools/{world.tool.slug}#version-1.0"' in html
    assert decision.rules and all(rule in html for rule in decision.rules)
    assert decision.policy_version in html
    # The study facts sent, and who asked.
    study = _text(html.split('id="study"', 1)[1].split("</dl>", 1)[0])
    assert "DX" in study and "HAND" in study and "9.5" in study and "male" in study and "not given" in study
    assert f"{world.gateway.name} ({world.hospital.name})" in study
    assert "Quota at the time" in text and "remaining before this decision" in text
    # An auditor (audit:read) sees the pseudonym and the decision's audit entry.
    assert re.search(rf'id="pseudonym">\s*{PSEUDONYM}\s*<', html)
    assert 'class="audit-entries"' in html and "routing decision" in text
    assert "(clinical-care)" in text


def test_the_explanation_of_a_permit(app, client, session, clock, world):
    decision = _decide(session, clock, app, world, "explain-2")
    login(client, "lezer@demo.aifi.nl")
    text = _text(client.get(f"/decisions/{decision.id}?lang=en").get_data(as_text=True))
    assert "permitted" in text and "Every condition was met." in text
    assert "Patient pseudonym not sent" in text
    assert "Audit trail" not in text  # a viewer has no audit:read
    nl = _text(client.get(f"/decisions/{decision.id}?lang=nl").get_data(as_text=True))
    assert "toegestaan" in nl and "Aan elke voorwaarde is voldaan." in nl


def test_the_pseudonym_is_withheld_from_those_without_need_to_know(app, client, session, clock, world):
    decision = _decide(session, clock, app, world, "explain-3", patient_pseudonym=PSEUDONYM)
    for email, shown in (("lezer@demo.aifi.nl", False), ("inkoop@demo.aifi.nl", False),
                         ("privacy@demo.aifi.nl", True), ("auditor@demo.aifi.nl", True)):
        client.get("/?lang=en")
        login(client, email)
        html = client.get(f"/decisions/{decision.id}?lang=en").get_data(as_text=True)
        assert (PSEUDONYM in html) is shown, email
        if not shown:
            assert re.search(r'id="pseudonym">\s*\(withheld\)\s*<', html), email
        client.post("/logout", data={})
        client.delete_cookie("session")


def _listed(client, query: str) -> set[str]:  # noqa: ANN001
    response = client.get(f"/decisions?per_page=500&lang=en&{query}")
    assert response.status_code == 200, (query, response.status_code)
    return set(re.findall(r'href="/decisions/([0-9a-f-]{36})"', response.get_data(as_text=True)))


def test_the_decision_list_filters(app, client, session, clock, world):
    other = make_world(session, clock)
    session.commit()
    permit = _decide(session, clock, app, world, "filter-1")
    deny = _decide(session, clock, app, world, "filter-2", study={"modality": "CT"})  # outside intended use
    elsewhere = _decide(session, clock, app, other, "filter-3")
    clock.advance(days=3)
    later = _decide(session, clock, app, world, "filter-4")
    assert (permit.outcome, deny.outcome, elsewhere.outcome) == ("permit", "deny", "permit")
    mine = {permit.id, deny.id, later.id}
    login(client, "admin@demo.aifi.nl")

    assert _listed(client, f"hospital={world.hospital.id}") == mine
    assert _listed(client, f"tool={world.tool.slug}") == mine
    assert _listed(client, f"hospital={other.hospital.id}&purpose=clinical-care") == {elsewhere.id}
    assert _listed(client, f"hospital={world.hospital.id}&purpose=research") == set()
    assert _listed(client, f"hospital={world.hospital.id}&outcome=deny") == {deny.id}
    assert _listed(client, f"hospital={world.hospital.id}&outcome=permit") == {permit.id, later.id}
    assert deny.id in _listed(client, "reason=OUTSIDE_INTENDED_USE")
    assert _listed(client, f"tool={world.tool.slug}&reason=OUTSIDE_INTENDED_USE") == {deny.id}
    assert _listed(client, f"tool={world.tool.slug}&reason=QUOTA_EXHAUSTED") == set()
    assert _listed(client, f"tool={world.tool.slug}&from=2026-06-02") == {later.id}
    assert _listed(client, f"tool={world.tool.slug}&to=2026-06-01") == {permit.id, deny.id}
    assert _listed(client, f"tool={world.tool.slug}&from=2026-06-04&to=2026-06-04") == {later.id}
    # The filters are kept in the form, and a malformed one is a 400 that names it.
    html = client.get(f"/decisions?outcome=deny&tool={world.tool.slug}&lang=en").get_data(as_text=True)
    assert re.search(r'<option value="deny"\s+selected>', html)
    assert client.get("/decisions?from=yesterday").status_code == 400
    assert client.get("/decisions?reason=NOT_A_CODE").status_code == 400
    assert client.get("/decisions?hospital=abc").status_code == 400
    # The staff API applies the same filters.
    from sqlalchemy import select

    from registry.db.users import User
    from registry.services import api_tokens

    user = session.scalar(select(User).where(User.email == "admin@demo.aifi.nl"))
    token = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="t").token
    session.commit()
    body = client.get(f"/api/v1/decisions?hospital={world.hospital.id}&outcome=deny",
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [item["decision_id"] for item in body["items"]] == [deny.id] and body["total"] == 1


def test_a_hospitals_user_sees_only_their_own_decisions(app, client, session, clock, world):
    decision = _decide(session, clock, app, world, "scope-1")
    login(client, "privacy@oost.demo.aifi.nl")
    assert client.get(f"/decisions/{decision.id}").status_code == 404
    assert decision.id not in _listed(client, "")
