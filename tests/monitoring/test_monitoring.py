"""Pooled monitoring over the database: counts by GROUP BY, flags, who sees what, the provider's
export without pseudonym, study key or assessor, the page, and the demo's flagged subgroup
(SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.actor import Actor
from registry.auth.tokens import issue_user_token
from registry.db.decisions import Decision
from registry.db.organisations import Gateway, Organisation
from registry.demo import PILOT_HOSPITALS
from registry.demo_monitoring import FLAGGED_BAND
from registry.permissions import Permission
from registry.services.feedback import FeedbackIn, report_feedback
from registry.services.monitoring import monitoring_figures, render_export
from registry.services.users import create_user
from tests.factories import SYSTEM, browser_login

PSEUDONYM = "feedc0de" * 8  # a keyed hash as a gateway sends it; must never reach an export
STUDY_PREFIX = "MONSTUDY"
ASSESSOR_PREFIX = "MONRAD"


class Data:
    def __init__(self, session, clock, plan: dict[str, tuple[int, int, int]]):
        """``plan``: hospital name → (disagree, agree, not assessed), reported through the service."""
        self.tool = f"mon-{uuid.uuid4().hex[:8]}"
        self.hospitals = {}
        self.decision_ids = []
        now = clock.now()
        for name, (disagree, agree, not_assessed) in plan.items():
            hospital = session.scalar(select(Organisation).where(Organisation.name == name))
            gateway = session.scalar(select(Gateway).where(Gateway.hospital_id == hospital.id).limit(1))
            actor = Actor.for_gateway(gateway, frozenset({Permission.FEEDBACK_REPORT}))
            self.hospitals[name] = hospital
            answers = ["disagree"] * disagree + ["agree"] * agree + ["not-assessed"] * not_assessed
            for i, answer in enumerate(answers):
                decision = Decision(
                    id=str(uuid.uuid4()), decided_at=now - timedelta(days=1), outcome="permit",
                    evaluated_on=now.date(), hospital_id=hospital.id, actor=f"gateway:{gateway.client_id}",
                    tool_slug=self.tool, purpose="clinical-care", study_key=f"{STUDY_PREFIX}-{i}",
                    policy_version="test", request={"tool": self.tool, "patient_pseudonym": PSEUDONYM, "study": {
                        "study_key": f"{STUDY_PREFIX}-{i}", "modality": "DX",
                        "patient_age_years": 16 if i % 2 else 8, "patient_sex": "F" if i % 3 else "M"}})
                session.add(decision)
                session.flush()
                self.decision_ids.append(decision.id)
                report_feedback(session, actor=actor, clock=clock, feedback=FeedbackIn(
                    decision_id=decision.id, assessor=f"{ASSESSOR_PREFIX}-{i % 4}", assessment=answer))
        session.commit()

    def rows(self, figures, kind="hospitals"):
        return [r for r in getattr(figures, kind) if r["tool"]["slug"] == self.tool]


A, B, C, D = (name for name, *_ in PILOT_HOSPITALS[:4])


def _user(session, clock, role="viewer", organisation=None):
    user, _ = create_user(session, actor=SYSTEM, clock=clock, roles=[role], password="monitor-password-1",
                          email=f"{role}.{uuid.uuid4().hex[:6]}@monitor.test",
                          organisation_id=organisation.id if organisation else None)
    session.commit()
    return user


@pytest.fixture
def data(session, clock):
    # A: 30 of 100 assessed disagree (5 not assessed); B and C: 5 of 100 each.
    return Data(session, clock, {A: (30, 70, 5), B: (5, 95, 0), C: (5, 95, 0)})


def test_counts_and_flags_per_hospital_and_subgroup(session, data):
    figures = monitoring_figures(session, actor=Actor.system("test"))
    rows = {r["hospital"]["name"]: r for r in data.rows(figures)}
    assert set(rows) == {A, B, C}
    assert (rows[A]["assessed"], rows[A]["disagree"], rows[A]["not_assessed"]) == (100, 30, 5)
    # Each against the others without itself: A against 10/200, B against 35/200.
    assert rows[A]["others_rate"] == pytest.approx(0.05) and rows[A]["flagged"]
    assert rows[B]["others_rate"] == pytest.approx(0.175) and not rows[B]["flagged"]
    assert rows[A]["interval"]["low"] == pytest.approx(0.2189489, abs=1e-6)
    version = next(v for v in figures.versions if v["tool"]["slug"] == data.tool)
    assert (version["assessed"], version["disagree"], version["hospitals"]) == (300, 40, 3)
    # Subgroups: every assessed study counted once per dimension.
    subgroups = data.rows(figures, "subgroups")
    for dimension in ("age_band", "sex", "modality"):
        assert sum(r["assessed"] for r in subgroups if r["dimension"] == dimension) == 300
    assert {r["value"] for r in subgroups if r["dimension"] == "age_band"} == {"5-9", "15-17"}


def test_a_hospital_sees_its_own_rows_and_the_others_without_names(session, clock, data):
    user = _user(session, clock, organisation=data.hospitals[A])
    figures = monitoring_figures(session, actor=Actor.for_user(user))
    rows = data.rows(figures)
    assert [r["hospital"]["name"] for r in rows] == [A]
    assert rows[0]["others_rate"] == pytest.approx(0.05) and rows[0]["flagged"]
    body, _ = render_export(figures, "csv")
    assert B not in body and C not in body
    # Pooled over three hospitals: the subgroups are shown.
    assert data.rows(figures, "subgroups")
    # A hospital without feedback on the tool sees nothing of it.
    other = _user(session, clock, organisation=session.scalar(select(Organisation).where(Organisation.name == D)))
    assert data.rows(monitoring_figures(session, actor=Actor.for_user(other))) == []


def test_pooled_figures_of_fewer_than_three_hospitals_are_withheld_from_a_hospital(session, clock):
    data = Data(session, clock, {A: (8, 12, 0), B: (1, 19, 0)})
    user = _user(session, clock, organisation=data.hospitals[A])
    figures = monitoring_figures(session, actor=Actor.for_user(user))
    (row,) = data.rows(figures)
    # With one other hospital, "the others" would be B's own figure.
    assert row["others_rate"] is None and row["others_withheld"]
    assert row["flagged"]  # the flag is the consortium's finding, shown all the same
    assert data.rows(figures, "subgroups") == []
    # National staff see both hospitals with the pooled rates.
    national = data.rows(monitoring_figures(session, actor=Actor.system("test")))
    assert {r["hospital"]["name"] for r in national} == {A, B}
    assert all(r["others_rate"] is not None for r in national)


def test_a_vendor_sees_only_its_own_tools(session, clock, data):
    visiana = session.scalar(select(Organisation).where(Organisation.name == "Visiana"))
    figures = monitoring_figures(session, actor=Actor.for_user(_user(session, clock, organisation=visiana)))
    assert data.rows(figures) == [] and data.rows(figures, "subgroups") == []
    assert {v["tool"]["slug"] for v in figures.versions} == {"bonexpert"}


def _assert_nothing_identifying(text: str, data) -> None:
    assert text
    for marker in (PSEUDONYM, STUDY_PREFIX, ASSESSOR_PREFIX, *data.decision_ids):
        assert marker not in text, marker


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_export_holds_no_pseudonym_study_key_or_assessor(client, session, clock, data, fmt):
    token = issue_user_token(session, clock=clock, user=_user(session, clock, role="auditor"), ttl=600).access_token
    session.commit()
    response = client.get(f"/api/v1/monitoring?format={fmt}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert data.tool in text and A in text  # the figures are there ...
    _assert_nothing_identifying(text, data)  # ... and nothing about a patient, study or radiologist
    if fmt == "json":
        rows = [r for r in response.get_json()["rows"] if r["tool"] == data.tool]
        assert {r["group_type"] for r in rows} == {"hospital", "age_band", "sex", "modality"}
        assert set(rows[0]) == {"tool", "version", "group_type", "group", "assessed", "disagree", "not_assessed",
                                "rate", "interval_low", "interval_high", "others_rate", "flagged"}


def test_the_page_and_its_download(client, session, clock, data):
    user = _user(session, clock, role="auditor")
    browser_login(client, session, user.email)
    page = client.get("/monitoring")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # A flagged row says so in words, not only in colour; the chart is inline SVG.
    assert "Gemarkeerd: het hele interval ligt boven de anderen" in html and "<svg" in html
    assert "15–17 jaar" in html
    _assert_nothing_identifying(html, data)
    download = client.get("/monitoring/export.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    _assert_nothing_identifying(download.get_data(as_text=True), data)
    assert client.get("/monitoring/export.xml").status_code == 404
    assert client.get("/api/v1/monitoring?format=xml",
                      headers={"Authorization": "Bearer " + issue_user_token(
                          session, clock=clock, user=user, ttl=600).access_token}).status_code == 400


def test_the_demo_world_has_a_flagged_subgroup_and_no_flagged_hospital(session):
    figures = monitoring_figures(session, actor=Actor.system("test"))
    flagged = [(r["tool"]["slug"], r["dimension"], r["value"]) for r in figures.subgroups if r["flagged"]]
    assert flagged == [("bonexpert", "age_band", FLAGGED_BAND)]
    # The story is the age band: no real pilot hospital is shown as flagged.
    bonexpert = [r for r in figures.hospitals if r["tool"]["slug"] == "bonexpert"]
    assert len(bonexpert) == 5 and not any(r["flagged"] for r in bonexpert)
