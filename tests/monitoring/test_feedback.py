"""POST /api/v1/feedback: counted once per decision and assessor, only from the decision's own
hospital, with an audit entry; opaque assessors only (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.db.audit import AuditEntry
from registry.db.feedback import Feedback
from registry.services import decisions as decisions_service
from tests.factories import bearer, child_hand, make_world

SCOPES = "routing:decide feedback:report"


def _permit(session, clock, policy_engine, world, key="fb-1", **kw):
    outcome = decisions_service.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                       request=child_hand(world.tool.slug, key, **kw))
    session.commit()
    return outcome.decision


def _post(client, headers, decision_id, assessor="r-17", assessment="disagree", **extra):
    return client.post("/api/v1/feedback", headers=headers,
                       json={"decision_id": decision_id, "assessor": assessor, "assessment": assessment, **extra})


def _count(session, *where):
    return session.scalar(select(func.count()).select_from(Feedback).where(*where))


def test_feedback_is_counted_once_per_decision_and_assessor(client, session, clock, policy_engine):
    world = make_world(session, clock)
    decision = _permit(session, clock, policy_engine, world, study={"patient_age_years": 16.0, "patient_sex": "F"})
    headers = bearer(session, clock, world.gateway, scope=SCOPES)

    first = _post(client, headers, decision.id, category="measurement")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["duplicate"] is False and body["assessment"] == "disagree" and body["category"] == "measurement"

    # A repeat — even one that changes its mind — is the stored record, marked as a duplicate.
    again = _post(client, headers, decision.id, assessment="agree")
    assert again.status_code == 200
    assert again.get_json() == dict(body, duplicate=True)

    # Another radiologist on the same study counts on its own.
    other = _post(client, headers, decision.id, assessor="r-18", assessment="agree")
    assert other.status_code == 201 and other.get_json()["feedback_id"] != body["feedback_id"]

    session.expire_all()
    assert _count(session, Feedback.decision_id == decision.id) == 2
    stored = session.get(Feedback, body["feedback_id"])
    # The subgroup is copied from the decision's stored study facts; nothing identifying is.
    assert (stored.assessment, stored.age_band, stored.sex, stored.modality, stored.hospital_id) == \
        ("disagree", "15-17", "F", "DX", world.hospital.id)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.event_type == "feedback",
                                                       AuditEntry.object_id.in_([str(body["feedback_id"]),
                                                                                 str(other.get_json()["feedback_id"])]))).all()
    assert len(entries) == 2  # one per recorded assessment, none for the duplicate
    assert {e.action_code for e in entries} == {"C"}


def test_only_the_decisions_own_hospital_reports_on_it(client, session, clock, policy_engine):
    ours, theirs = make_world(session, clock), make_world(session, clock)
    decision = _permit(session, clock, policy_engine, ours)
    their_headers = bearer(session, clock, theirs.gateway, scope=SCOPES)
    response = _post(client, their_headers, decision.id)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    # The same answer as for a decision that does not exist, and as GET /decisions/<id> gives.
    assert _post(client, their_headers, "no-such-decision").status_code == 404
    assert client.get(f"/api/v1/decisions/{decision.id}", headers=their_headers).status_code == 404
    assert _count(session, Feedback.decision_id == decision.id) == 0


def test_a_study_that_was_not_routed_has_nothing_to_assess(client, session, clock, policy_engine):
    world = make_world(session, clock)
    deny = _permit(session, clock, policy_engine, world, key="fb-deny", study={"modality": "CT"})
    assert deny.outcome == "deny"
    response = _post(client, bearer(session, clock, world.gateway, scope=SCOPES), deny.id)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "NOT_ROUTED"


@pytest.mark.parametrize("assessor", ["dr.jansen@ziekenhuis.nl", "Dr Jansen", "", "x" * 65, "r\u00e9", "r\t1",
                                      "111222333"])
def test_the_assessor_is_an_opaque_identifier(client, session, clock, policy_engine, assessor):
    world = make_world(session, clock)
    decision = _permit(session, clock, policy_engine, world)
    response = _post(client, bearer(session, clock, world.gateway, scope=SCOPES), decision.id, assessor=assessor)
    assert response.status_code == 400, assessor
    assert "assessor" in str(response.get_json()["error"]["fields"])


@pytest.mark.parametrize("body", [{"assessment": "maybe"}, {"category": "typo"}, {"extra": 1}])
def test_the_body_is_validated(client, session, clock, policy_engine, body):
    world = make_world(session, clock)
    decision = _permit(session, clock, policy_engine, world)
    response = _post(client, bearer(session, clock, world.gateway, scope=SCOPES), decision.id, **body)
    assert response.status_code == 400


def test_the_scope_is_needed(client, session, clock, policy_engine):
    world = make_world(session, clock)
    decision = _permit(session, clock, policy_engine, world)
    response = _post(client, bearer(session, clock, world.gateway, scope="routing:decide usage:report"), decision.id)
    assert response.status_code == 403
