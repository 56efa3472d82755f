"""The Cedar context computed from one snapshot (registry/policy/facts.py), without a database:
each fact at the edges where it turns (the mutation run of 2026-11-30, docs/testing.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace as Row

import pytest

from registry.domain.intended_use import Study
from registry.domain.quota import OnQuotaExhausted
from registry.policy.facts import Snapshot, chain_unapproved, compute_facts, explain, terms_only

DAY = date(2026, 6, 15)
HAND = Study(modality="DX", body_part="HAND", age_years=Decimal(9), sex="M")
COMPLETE = dict(versions=["2.1"], ifu_document="ifu.pdf", ifu_sha256="a" * 64,
                overseers=[{"name": "Dr. A", "trained_on": "2026-01-01"}], dpia_reference="DPIA-1",
                dpia_date=date(2026, 1, 1), works_council_informed_on=date(2026, 1, 1), acceptance_cases=50,
                acceptance_agreement_pct=98, acceptance_date=date(2026, 1, 1), acceptance_by="Dr. A",
                monitoring_plan="monthly", art27_applicable=False, art49_applicable=False)


def _snap(**kw) -> Snapshot:  # noqa: ANN003
    """Everything in order on DAY: every fact true, no objection, quota left."""
    vendor, operator = Row(id=2, name="Vendor BV"), Row(id=1, name="Operator BV")
    rows = dict(
        day=DAY, hospital=Row(id=9, name="St. Elsewhere", status="active"),
        gateway=Row(name="gw", client_id="gw-1", status="active"),
        tool=Row(name="BoneXpert", status="active"),
        version=Row(id=5, version="2.1", status="active", certificate_expires_on=DAY,
                    intended_use={"modalities": ["DX"], "body_parts": ["HAND"]}),
        purpose=Row(active=True, requires_deployment=True), purpose_code="CLIN", tool_slug="bonexpert",
        licence=Row(id=7, reference="L-1", status="active", starts_on=DAY, ends_on=DAY, quota_limit=10,
                    quota_period="term", on_quota_exhausted="deny"),
        contract=Row(id=3, reference="C-1", status="active", starts_on=DAY, ends_on=DAY), quota_used=3,
        agreement=Row(id=4, reference="V-1", status="signed", effective_on=DAY, ends_on=DAY,
                      purposes=["CLIN", "RES"]),
        agreement_subprocessors=[Row(organisation_id=2, approved_on=DAY, withdrawn_on=DAY)],
        chain=[operator, vendor], objection=None,
        deployment=Row(id=8, status="approved", **COMPLETE))
    rows.update(kw)
    return Snapshot(**rows)


def _changed(context: dict) -> set[str]:
    """The facts that differ from those of the snapshot in order."""
    base = compute_facts(_snap(), HAND).context
    return {f"{group}.{name}" for group, facts in context.items() for name, value in facts.items()
            if value != base[group][name]}


def test_a_snapshot_in_order_on_the_last_day_of_everything():
    facts = compute_facts(_snap(), HAND)
    assert facts.context == {
        "gateway": {"active": True}, "hospital": {"active": True},
        "tool": {"known": True, "suspended": False, "certificate_valid": True},
        "purpose": {"known": True}, "study": {"within_intended_use": True},
        "licence": {"present": True, "in_force": True, "contract_in_force": True, "quota_limited": True,
                    "quota_remaining": 7, "overage_allowed": False},
        "agreement": {"present": True, "signed": True, "in_force": True, "covers_purpose": True,
                      "chain_approved": True},
        "deployment": {"required": True, "approved": True}, "patient": {"objected": False}}
    assert facts.mismatches == [] and facts.unapproved == []
    assert (facts.window.starts_on, facts.window.ends_on) == (DAY, DAY)
    assert (facts.quota.limit, facts.quota.used, facts.quota.rule) == (10, 3, OnQuotaExhausted.DENY)


def _with(row: str, **kw) -> dict:  # noqa: ANN003
    """The snapshot's ``row`` with ``kw`` changed."""
    return {row: Row(**{**vars(getattr(_snap(), row)), **kw})}


@pytest.mark.parametrize("change, changed", [
    (_with("gateway", status="suspended"), {"gateway.active"}),
    ({"gateway": None}, set()),  # staff evaluating for a hospital
    (_with("hospital", status="suspended"), {"hospital.active"}),
    ({"tool": None}, {"tool.known", "tool.certificate_valid", "deployment.approved"}),
    ({"version": None}, {"tool.known", "tool.certificate_valid", "deployment.approved"}),
    (_with("tool", status="suspended"), {"tool.suspended"}),
    (_with("version", status="withdrawn"), {"tool.suspended"}),
    (_with("version", certificate_expires_on=date(2026, 6, 14)), {"tool.certificate_valid"}),
    (_with("version", certificate_expires_on=None), {"tool.certificate_valid"}),
    (_with("purpose", active=False), {"purpose.known"}),
    ({"purpose": None}, {"purpose.known", "deployment.required"}),
    (_with("purpose", requires_deployment=False), {"deployment.required"}),
    (_with("licence", status="suspended"), {"licence.in_force"}),
    (_with("licence", starts_on=date(2026, 6, 16), ends_on=None), {"licence.in_force"}),
    (_with("licence", starts_on=date(2026, 1, 1), ends_on=date(2026, 6, 14)), {"licence.in_force"}),
    (_with("contract", status="terminated"), {"licence.contract_in_force"}),
    (_with("contract", starts_on=date(2026, 6, 16), ends_on=None), {"licence.contract_in_force"}),
    (_with("contract", starts_on=date(2026, 1, 1), ends_on=date(2026, 6, 14)), {"licence.contract_in_force"}),
    ({"contract": None}, {"licence.contract_in_force"}),
    (_with("agreement", status="draft"), {"agreement.signed", "agreement.in_force"}),
    (_with("agreement", effective_on=date(2026, 6, 16), ends_on=None), {"agreement.in_force"}),
    (_with("agreement", effective_on=date(2026, 1, 1), ends_on=date(2026, 6, 14)), {"agreement.in_force"}),
    (_with("agreement", purposes=["RES"]), {"agreement.covers_purpose"}),
    (_with("agreement", purposes=None), {"agreement.covers_purpose"}),
    ({"agreement_subprocessors": []}, {"agreement.chain_approved"}),
    ({"chain": [Row(id=1, name="Operator BV")]}, set()),  # the first processor needs no approval
    (_with("deployment", status="suspended"), {"deployment.approved"}),
    (_with("deployment", versions=["2.0"]), {"deployment.approved"}),
    ({"deployment": None}, {"deployment.approved"}),
])
def test_each_fact_turns_on_its_own(change, changed):
    assert _changed(compute_facts(_snap(**change), HAND).context) == changed


def test_no_licence_and_no_agreement():
    facts = compute_facts(_snap(licence=None, agreement=None), HAND)
    assert facts.window is None and facts.quota is None
    context = facts.context
    assert context["licence"] == {"present": False, "in_force": False, "contract_in_force": True,
                                  "quota_limited": False, "quota_remaining": 0, "overage_allowed": False}
    assert context["agreement"] == {"present": False, "signed": False, "in_force": False,
                                    "covers_purpose": False, "chain_approved": False}


@pytest.mark.parametrize("limit, used, rule, limited, remaining, overage", [
    (10, 10, "overage", True, 0, True), (10, 12, "deny", True, 0, False), (None, 50, "deny", False, 0, False),
    (None, 0, "overage", False, 0, True),
])
def test_quota_facts(limit, used, rule, limited, remaining, overage):
    snap = _snap(quota_used=used, **_with("licence", quota_limit=limit, on_quota_exhausted=rule))
    licence = compute_facts(snap, HAND).context["licence"]
    assert (licence["quota_limited"], licence["quota_remaining"], licence["overage_allowed"]) == (
        limited, remaining, overage)


def test_the_quota_window_is_the_licence_period_containing_the_day():
    snap = _snap(**_with("licence", quota_period="month", starts_on=date(2026, 1, 1), ends_on=None))
    window = compute_facts(snap, HAND).window
    assert (window.starts_on, window.ends_on) == (date(2026, 6, 1), date(2026, 6, 30))


def test_a_study_outside_intended_use_and_an_objection():
    facts = compute_facts(_snap(objection=Row(objection_ref="OBJ-1")), Study(modality="CT", body_part="HAND"))
    assert _changed(facts.context) == {"study.within_intended_use", "patient.objected"}
    assert [m.attribute for m in facts.mismatches] == ["modality"]


@pytest.mark.parametrize("approval, unapproved", [
    (dict(), []),
    (dict(approved_on=date(2026, 6, 16)), ["Vendor BV"]),  # approved only tomorrow
    (dict(approved_on=None), ["Vendor BV"]),
    (dict(withdrawn_on=date(2026, 6, 14)), ["Vendor BV"]),  # withdrawn yesterday
    (dict(withdrawn_on=None), []),
    (dict(organisation_id=None), ["Vendor BV"]),
    (dict(organisation_id=1), ["Vendor BV"]),  # approving the operator does not approve the vendor
])
def test_a_sub_processor_is_approved_from_its_approval_to_its_withdrawal(approval, unapproved):
    sp = Row(**{**dict(organisation_id=2, approved_on=DAY, withdrawn_on=DAY), **approval})
    snap = _snap(agreement_subprocessors=[sp], chain=[Row(id=1, name="Operator BV"), Row(id=2, name="Vendor BV"),
                                                      Row(id=None, name="Unregistered BV")])
    assert chain_unapproved(snap) == unapproved + ["Unregistered BV"]
    assert chain_unapproved(_snap(agreement=None)) == []


def test_terms_only_takes_the_per_study_conditions_as_met_and_leaves_the_rest():
    context = compute_facts(_snap(objection=Row(objection_ref="O"), licence=None), Study(modality="CT")).context
    ctx = terms_only(context)
    assert ctx["study"] == {"within_intended_use": True} and ctx["patient"] == {"objected": False}
    assert {k: v for k, v in ctx.items() if k not in ("study", "patient")} == {
        k: v for k, v in context.items() if k not in ("study", "patient")}
    # The decision's own facts are not changed.
    assert context["study"] == {"within_intended_use": False} and context["patient"] == {"objected": True}


def test_a_reason_whose_row_is_missing_keeps_its_code_with_a_plain_sentence():
    snap = _snap(licence=None)
    reason = explain("LICENCE_NOT_IN_FORCE", snap, compute_facts(snap, HAND))
    assert reason == {"code": "LICENCE_NOT_IN_FORCE", "ref": None,
                      "detail": "licence not in force: the facts to explain this were incomplete; denied (fail-closed)"}
