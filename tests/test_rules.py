"""Seven rules that could be broken without the suite noticing (issue 14, item 8). Each test
here was checked by hand to fail when its rule is broken (the mutation is named in each
docstring; docs/testing.md lists them)."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import date
from types import SimpleNamespace

import cedarpy
import pytest
from sqlalchemy import select

from registry.audit.chain import seal_all
from registry.db.audit import AuditCheckpoint
from registry.db.contracts import QuotaCounter
from registry.policy.engine import PolicyEngine
from registry.services import contracts, decisions, objections
from tests.audit.conftest import add_entries, signer, verify  # noqa: F401 (signer: a fixture)
from tests.factories import SYSTEM, bearer, child_hand, make_world

PSEUDONYM = "9f" * 32


def _decide(session, clock, engine, world, key: str, **kw):  # noqa: ANN001, ANN202
    outcome = decisions.decide(session, actor=world.actor, clock=clock, engine=engine,
                               request=child_hand(world.tool.slug, key, **kw))
    return outcome.decision.outcome, [r["code"] for r in outcome.decision.reasons]


def test_rule_1_reasons_keep_the_documented_order_when_neighbours_fail_together(
        session, clock, policy_engine):
    """docs/decisions.md lists CONTRACT_NOT_IN_FORCE before QUOTA_EXHAUSTED, and a deny lists
    them in that order. Broken by: swapping the two in REASON_CODES, or sorting reasons any
    other way."""
    world = make_world(session, clock, quota_limit=1)
    assert _decide(session, clock, policy_engine, world, "r1-a") == ("permit", [])
    contracts.set_contract_status(session, actor=SYSTEM, clock=clock, contract_id=world.contract.id,
                                  status="suspended", reason="rule 1")
    assert _decide(session, clock, policy_engine, world, "r1-b") == (
        "deny", ["CONTRACT_NOT_IN_FORCE", "QUOTA_EXHAUSTED"])


def _boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    raise RuntimeError("the policy engine failed")


def _allow_with_errors(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    diagnostics = SimpleNamespace(errors=["evaluation error"], reasons=["route"],
                                  id_annotations_by_reason={})
    return SimpleNamespace(decision=cedarpy.Decision.Allow, diagnostics=diagnostics)


@pytest.mark.parametrize("fault, calls", [(_boom, "is_authorized"), (_boom, "is_authorized_batch"),
                                          (_boom, "is_authorized*"),
                                          (_allow_with_errors, "is_authorized")])
def test_rule_2_an_error_inside_the_policy_engine_is_a_deny(session, clock, monkeypatch, fault, calls):
    """Any exception (or an Allow that carries errors) is a deny with POLICY_ERROR, and nothing
    is reserved. Broken by: ``return Verdict(True, ...)`` in the engine's except clause, or
    ignoring diagnostics errors on an Allow."""
    policy_engine = PolicyEngine.load()  # its own: nothing remembered from other tests' verdicts
    world = make_world(session, clock)
    for name in dir(cedarpy):
        if name == calls or (calls.endswith("*") and name.startswith(calls[:-1])):
            monkeypatch.setattr(cedarpy, name, fault)
    outcome, reasons = _decide(session, clock, policy_engine, world, "r2")
    assert outcome == "deny" and "POLICY_ERROR" in reasons
    used = session.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == world.licence.id))
    assert not used


@pytest.mark.parametrize("what", ["gateway", "hospital"])
def test_rule_3_a_token_stops_when_its_gateway_is_suspended_in_the_database(
        client, session, clock, what):
    """Even if nobody revoked its tokens (a suspension written straight into the database, a
    service that forgot), a token of a suspended gateway or of a suspended hospital's gateway
    is refused on its next use. Broken by: dropping the status check in actor_for_token."""
    world = make_world(session, clock)
    headers = bearer(session, clock, world.gateway)
    assert client.get("/api/v1/bundle", headers=headers).status_code == 200
    row = world.gateway if what == "gateway" else world.hospital
    row.status = "suspended"  # no service, so no token revocation
    session.commit()
    assert client.get("/api/v1/bundle", headers=headers).status_code == 401
    body = child_hand(world.tool.slug, "r3").model_dump(mode="json", exclude_none=True)
    assert client.post("/api/v1/decisions", json=body, headers=headers).status_code == 401


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("forgery", ["other key, our kid", "changed payload, our signature"])
def test_rule_4_a_checkpoint_under_our_kid_must_carry_our_signature_over_its_payload(
        session, clock, signer, tmp_path, forgery):
    """A checkpoint naming the registry's own kid but signed by another key, or whose payload
    was changed under the original signature (columns changed to match), fails verification.
    Broken by: reading the statement without verifying the signature (extract_compact instead
    of deserialize_compact), or trusting the kid alone."""
    from registry.keys import load_or_create

    add_entries(session, clock, 6)
    seal_all(session, clock=clock, signer=signer, checkpoint_every=5)
    assert verify(session, signer).ok
    checkpoint = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq).limit(1))
    header, payload, signature = checkpoint.signature.split(".")
    statement = json.loads(_unb64(payload))
    assert json.loads(_unb64(header))["kid"] == signer.kid
    if forgery == "other key, our kid":
        impostor = dataclasses.replace(load_or_create(tmp_path / "impostor"), kid=signer.kid)
        checkpoint.signature = impostor.sign(statement, typ=json.loads(_unb64(header))["typ"])
    else:
        statement["head_hash"] = "0" * 64
        checkpoint.head_hash = statement["head_hash"]
        checkpoint.signature = ".".join([header, _b64(json.dumps(statement).encode()), signature])
    session.flush()
    report = verify(session, signer)
    assert not report.ok
    assert report.failure.seq == checkpoint.seq and "signature" in report.failure.reason


@pytest.mark.parametrize("sex, age, expected", [
    ("M", 19, "permit"), ("M", 19.01, "deny"), ("F", 18, "permit"), ("F", 18.01, "deny"),
    ("M", 0, "permit"),
])
def test_rule_5_an_age_exactly_at_the_intended_use_maximum_is_within_it(
        session, clock, policy_engine, sex, age, expected):
    """Intended-use age bounds are inclusive (BoneXpert: boys up to 19, girls up to 18). Broken
    by: ``>=`` for ``>`` against the maximum (or ``<=`` for ``<`` against the minimum)."""
    world = make_world(session, clock)
    outcome, reasons = _decide(session, clock, policy_engine, world, f"r5-{sex}-{age}",
                               study={"patient_age_years": age, "patient_sex": sex})
    assert outcome == expected
    assert reasons == ([] if expected == "permit" else ["OUTSIDE_INTENDED_USE"])


def test_rule_6_an_objection_for_one_purpose_does_not_deny_another(session, clock, policy_engine):
    """A patient who objects to research may still be routed for clinical care. Broken by:
    dropping the purpose from the objection lookup."""
    world = make_world(session, clock, purposes=("clinical-care", "research"))
    objections.record_objection(session, actor=SYSTEM, clock=clock, hospital_id=world.hospital.id,
                                pseudonym=PSEUDONYM, purposes=["research"], recorded_on=date(2026, 1, 1))
    assert _decide(session, clock, policy_engine, world, "r6-a", patient_pseudonym=PSEUDONYM) == (
        "permit", [])
    assert _decide(session, clock, policy_engine, world, "r6-b", patient_pseudonym=PSEUDONYM,
                   purpose="research") == ("deny", ["PATIENT_OBJECTION"])


def test_rule_7_a_ce_certificate_is_valid_on_its_last_day(session, clock, policy_engine):
    """``certificate_expires_on`` is the last day of validity, an Amsterdam calendar date,
    inclusive. Broken by: ``day < expires_on``, or comparing in UTC."""
    world = make_world(session, clock, certificate_expires_on=date(2026, 6, 1))
    assert _decide(session, clock, policy_engine, world, "r7-a") == ("permit", [])
    clock.advance(hours=11, minutes=59)  # 23:59 in Amsterdam (CEST): still the last day
    assert _decide(session, clock, policy_engine, world, "r7-b") == ("permit", [])
    clock.advance(minutes=1)  # 00:00 on 2 June in Amsterdam, 22:00 UTC on 1 June
    assert _decide(session, clock, policy_engine, world, "r7-c") == (
        "deny", ["TOOL_CERTIFICATE_EXPIRED"])


def test_rule_2_the_engine_reports_its_own_failure(monkeypatch):
    """At the engine itself: permit is False (not merely falsy) and the error is kept for the
    decision's record, whether the route evaluation or the per-condition checks fail."""
    policy_engine = PolicyEngine.load()
    monkeypatch.setattr(cedarpy, "is_authorized", _boom)
    verdict = policy_engine.evaluate("gw", "tool", {})
    assert verdict.permit is False and verdict.failed == ("POLICY_ERROR",)
    assert verdict.errors == ("the policy engine failed",)

    def deny(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        diagnostics = SimpleNamespace(errors=[], reasons=[], id_annotations_by_reason={})
        return SimpleNamespace(decision=cedarpy.Decision.Deny, diagnostics=diagnostics)

    monkeypatch.setattr(cedarpy, "is_authorized", deny)
    monkeypatch.setattr(cedarpy, "is_authorized_batch", _boom)
    verdict = policy_engine.evaluate("gw", "tool", {})
    assert verdict.permit is False and verdict.failed == ("POLICY_ERROR",)
    assert verdict.errors == ("the policy engine failed",)
    # The record names what decided: no policy did, so the failure itself (not a blank).
    assert verdict.rules == ("POLICY_ERROR",)


def test_rule_2_a_check_that_errored_still_explains_itself_without_its_row(policy_engine):
    """A check that errors on a missing fact is listed as failed (fail-closed); the sentence for it
    must not need the row the fact would have come from (an absent agreement made this an
    AttributeError, a 500 instead of a deny)."""
    from registry.policy.facts import explain

    snap = SimpleNamespace(day=date(2026, 6, 1), agreement=None, licence=None, contract=None,
                           version=None, tool=None, hospital=SimpleNamespace(name="Demo Ziekenhuis Oost"))
    reason = explain("AGREEMENT_NOT_SIGNED", snap, SimpleNamespace())
    assert reason["code"] == "AGREEMENT_NOT_SIGNED" and reason["ref"] is None
    assert "fail-closed" in reason["detail"]
    # A complete snapshot still gets its specific sentence.
    dpa = SimpleNamespace(reference="VWO-1", status="in_review", id=7)
    full = explain("AGREEMENT_NOT_SIGNED", SimpleNamespace(**{**vars(snap), "agreement": dpa}), SimpleNamespace())
    assert full == {"code": "AGREEMENT_NOT_SIGNED", "detail": "agreement VWO-1 is in review, not signed",
                    "ref": "agreement:7"}
