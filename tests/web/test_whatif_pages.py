"""The what-if count next to the buttons that change terms, and the evidence-pack downloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.clock import FixedClock
from registry.db.contracts import Licence
from registry.services import decisions
from tests.conftest import DEMO_NOW
from tests.factories import child_hand, make_world
from tests.web.helpers import csrf_token, login


@pytest.fixture
def decided(session, clock, policy_engine):  # noqa: ANN001, ANN201
    w = make_world(session, clock)
    for days_ago in (0, 1, 12):
        decisions.decide(session, actor=w.actor, clock=FixedClock(DEMO_NOW - timedelta(days=days_ago)),
                         engine=policy_engine, request=child_hand(w.tool.slug, study_key=f"p-{days_ago}"))
    session.commit()
    return w


def _sentence(w) -> str:  # noqa: ANN001
    return f"This change would turn 3 decisions of the last 30 days from permit to deny</strong>\n  ({w.hospital.name} × {w.tool.name}: 3)"


def test_suspending_a_version_shows_the_count(client, decided):
    login(client, "admin@demo.aifi.nl")
    html = client.get(f"/tools/{decided.tool.slug}/versions/1.0/suspend?lang=en").get_data(as_text=True)
    assert _sentence(decided) in html


def test_the_deployment_page_shows_the_count_and_the_evidence_pack(client, decided):
    login(client, "admin@demo.aifi.nl")
    html = client.get(f"/deployments/{decided.deployment.id}?lang=en").get_data(as_text=True)
    assert _sentence(decided) in html
    assert f"/evidence/{decided.hospital.ura}/{decided.tool.slug}.pdf" in html
    dutch = client.get(f"/deployments/{decided.deployment.id}?lang=nl").get_data(as_text=True)
    assert "Deze wijziging zou 3 besluiten van de afgelopen 30 dagen van toestaan naar weigeren veranderen" in dutch
    pdf = client.get(f"/evidence/{decided.hospital.ura}/{decided.tool.slug}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")


def test_terminating_an_agreement_shows_the_count(client, decided):
    login(client, "admin@demo.aifi.nl")
    html = client.get(f"/agreements/{decided.agreement.id}/transition?to=terminated&lang=en").get_data(as_text=True)
    assert _sentence(decided) in html


def test_previewing_a_licence_end_saves_nothing(client, session, decided):
    login(client, "admin@demo.aifi.nl")
    page = f"/licences/{decided.licence.id}/edit?lang=en"
    form = {"csrf_token": csrf_token(client.get(page).get_data(as_text=True)), "starts_on": "2026-01-01",
            "ends_on": "2026-05-25", "quota_limit": "100", "quota_period": "term", "on_quota_exhausted": "deny",
            "action": "preview"}
    html = client.post(page, data=form).get_data(as_text=True)
    # The permits of 31 May and 1 June fall after the new last day; the one of 20 May does not.
    assert "This change would turn 2 decisions of the last 30 days from permit to deny" in html
    session.expire_all()
    assert session.scalar(select(Licence.ends_on).where(Licence.id == decided.licence.id)).isoformat() == "2026-12-31"
