"""With the app's in-memory terms, a decision reads no terms table: only the revision (with any
stored permit), the reservation and its own rows. Dropping the cache changes no answer, only the
statements, so this is the test that notices (mutants decide 46, 47, 50, 63, 70 and evaluate_at
67, 73, 75 of the mutation run: docs/testing.md)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import event

from registry.actor import Actor
from registry.schemas import EvaluateIn
from registry.services import decisions, tools
from registry.services.terms_cache import TermsCache
from tests.factories import BONEXPERT_USE, SYSTEM, child_hand, make_world

# The terms a decision judges on: none of these may be read once they are in memory.
_TERMS = re.compile(r"\b(tools|tool_versions|licences|framework_contracts|data_processing_agreements|"
                    r"agreement_subprocessors|purposes|deployments)\b")


def _recording(engine):
    sql: list[str] = []

    def record(_conn, _cursor, statement, *_rest):  # noqa: ANN001, ANN002
        sql.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return sql, lambda: event.remove(engine, "before_cursor_execute", record)


def test_a_decision_on_terms_in_memory_reads_no_terms_table(session, clock, policy_engine):
    world, terms = make_world(session, clock), TermsCache()

    def decide(key):
        return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                request=child_hand(world.tool.slug, study_key=key), terms=terms)

    assert decide("warm").decision.outcome == "permit"  # the terms into memory
    sql, stop = _recording(session.get_bind())
    try:
        assert decide("second").decision.outcome == "permit"
    finally:
        stop()
    assert [s for s in sql if _TERMS.search(s)] == []
    assert len([s for s in sql if "terms_revision" in s]) == 1  # read once, first
    assert "terms_revision" in sql[0]


def test_an_evaluation_on_terms_in_memory_reads_no_terms_table(session, clock, policy_engine):
    world, terms = make_world(session, clock), TermsCache()
    gateway = Actor.for_gateway(world.gateway, world.actor.permissions)
    body = child_hand(world.tool.slug).model_dump()

    def evaluate():
        return decisions.evaluate_at(session, actor=gateway, clock=clock, engine=policy_engine,
                                     request=EvaluateIn.model_validate(dict(body, at="2026-06-01")), terms=terms)

    assert evaluate().decision.outcome == "permit"
    sql, stop = _recording(session.get_bind())
    try:
        assert evaluate().decision.outcome == "permit"
    finally:
        stop()
    assert [s for s in sql if _TERMS.search(s)] == []


def test_terms_in_memory_are_kept_apart_per_hospital_and_processor(session, clock, policy_engine):
    """One process's memory holds the agreements of every (hospital, processor) pair decided
    for: a hospital whose agreement is still in review is denied after another hospital's
    signed agreement was read into memory, and the other way round (_agreements' key)."""
    signed = make_world(session, clock)
    in_review = make_world(session, clock, agreement_status="in_review")
    terms = TermsCache()

    def decide(world, key):
        return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                request=child_hand(world.tool.slug, study_key=key),
                                terms=terms).decision

    assert decide(signed, "a-1").outcome == "permit"
    refused = decide(in_review, "b-1")
    assert refused.outcome == "deny" and refused.facts["agreement"]["signed"] is False
    assert decide(signed, "a-2").outcome == "permit"


def test_terms_in_memory_are_kept_apart_per_tool_version(session, clock, policy_engine):
    """A tool's versions are remembered apart: version 2.0 (no deployment approved for it, so
    denied) read into memory first does not stand in for version 1.0 or for the default
    (_tool_row's keys)."""
    world, terms = make_world(session, clock), TermsCache()
    tools.create_tool_version(session, actor=SYSTEM, clock=clock, tool_id=world.tool.id,
                              version="2.0", intended_use=BONEXPERT_USE,
                              certificate_expires_on=date(2030, 1, 1))
    session.flush()

    def decide(key, version):
        request = child_hand(world.tool.slug, study_key=key, tool_version=version)
        return decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                request=request, terms=terms).decision

    assert decide("v2-a", "2.0").outcome == "deny"
    assert decide("v1-a", "1.0").outcome == "permit"
    assert decide("default-a", None).outcome == "permit"
    assert decide("v2-b", "2.0").outcome == "deny"


def test_terms_in_memory_are_kept_apart_per_tool(session, clock, policy_engine):
    """Two tools asked for by their default version, one after the other, in one process's
    memory: each decision is for its own tool, licence and hospital."""
    first, second, terms = make_world(session, clock), make_world(session, clock), TermsCache()
    for n, world in enumerate((first, second, first)):
        decision = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                    request=child_hand(world.tool.slug, study_key=f"tool-{n}"),
                                    terms=terms).decision
        assert decision.outcome == "permit"
        assert decision.refs["licence"]["id"] == world.licence.id


def test_terms_in_memory_are_kept_apart_per_purpose(session, clock, policy_engine):
    """A purpose in memory is the one asked for: after a decision for clinical care, one for a
    purpose nobody defined is PURPOSE_UNKNOWN, not judged as clinical care."""
    world, terms = make_world(session, clock), TermsCache()
    for key, purpose, codes in (("care", "clinical-care", []), ("other", "marketing", ["PURPOSE_UNKNOWN"]),
                                ("care-again", "clinical-care", [])):
        decision = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                    request=child_hand(world.tool.slug, study_key=key, purpose=purpose),
                                    terms=terms).decision
        assert [r["code"] for r in decision.reasons] == codes


def test_terms_in_memory_keep_each_hospital_s_deployment(session, clock, policy_engine):
    """Clinical care needs the hospital's own approved deployment of the tool: one hospital's
    approval in memory is not another's (kills load_snapshot 114: one cache key for all)."""
    approved, draft = make_world(session, clock), make_world(session, clock, deployment="draft")
    terms = TermsCache()
    for n, (world, codes) in enumerate(((approved, []), (draft, ["DEPLOYMENT_NOT_APPROVED"]),
                                        (approved, []))):
        decision = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                    request=child_hand(world.tool.slug, study_key=f"dep-{n}"),
                                    terms=terms).decision
        assert [r["code"] for r in decision.reasons] == codes
