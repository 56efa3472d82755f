"""The policy expectation tables in policies/tests/, and the invariants of the policy engine."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.policy.engine import POLICY_DIR, REASON_CODES, PolicyEngine, PolicyLoadError, _escape

TABLES = POLICY_DIR / "tests"
BASELINE = json.loads((TABLES / "baseline.json").read_text())


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        for attr, v in value.items():
            if v is None:
                out[key].pop(attr)  # a missing attribute: Cedar errors on it
            else:
                out[key][attr] = v
    return out


def _cases():
    for path in sorted(TABLES.glob("*.json")):
        if path.name == "baseline.json":
            continue
        for case in json.loads(path.read_text()):
            yield pytest.param(case, id=f"{path.stem}: {case['name']}")


@pytest.mark.parametrize("case", list(_cases()))
def test_expectation(policy_engine, case):
    verdict = policy_engine.evaluate("gw-test", "bonexpert", _merge(BASELINE, case["facts"]))
    assert ("permit" if verdict.permit else "deny") == case["decision"]
    assert list(verdict.failed) == case["reasons"]


_bools = st.booleans()
_facts = st.fixed_dictionaries({
    "gateway": st.fixed_dictionaries({"active": _bools}),
    "hospital": st.fixed_dictionaries({"active": _bools}),
    "tool": st.fixed_dictionaries({"known": _bools, "suspended": _bools, "certificate_valid": _bools}),
    "purpose": st.fixed_dictionaries({"known": _bools}),
    "study": st.fixed_dictionaries({"within_intended_use": _bools}),
    "licence": st.fixed_dictionaries({"present": _bools, "in_force": _bools, "contract_in_force": _bools,
                                      "quota_limited": _bools,
                                      "quota_remaining": st.integers(min_value=0, max_value=3),
                                      "overage_allowed": _bools}),
    "agreement": st.fixed_dictionaries({"present": _bools, "signed": _bools, "in_force": _bools,
                                        "covers_purpose": _bools, "chain_approved": _bools}),
    "deployment": st.fixed_dictionaries({"required": _bools, "approved": _bools}),
    "patient": st.fixed_dictionaries({"objected": _bools}),
})


@settings(max_examples=300, deadline=None)
@given(_facts)
def test_route_permits_exactly_when_every_check_holds(facts):
    """route.cedar and checks.cedar stay in step: a permit has no failing check, a deny has at
    least one, and never the catch-all POLICY_ERROR when the facts are complete."""
    engine = _ENGINE
    verdict = engine.evaluate("gw", "tool", facts)
    failed, errors = engine._explain({"principal": 'Gateway::"gw"', "action": "", "resource": 'Tool::"tool"',
                                      "context": facts})
    assert errors == ()
    assert verdict.permit == (failed == ())
    if not verdict.permit:
        assert list(verdict.failed) == list(failed)
        assert set(verdict.failed) <= set(REASON_CODES)


_ENGINE = PolicyEngine.load()


def test_policy_version_is_a_hash_of_the_files(policy_engine, tmp_path):
    for path in POLICY_DIR.glob("*.cedar*"):
        (tmp_path / path.name).write_text(path.read_text())
    assert PolicyEngine.load(tmp_path).version == policy_engine.version
    (tmp_path / "route.cedar").write_text((tmp_path / "route.cedar").read_text() + "\n// edit\n")
    assert PolicyEngine.load(tmp_path).version != policy_engine.version


def _copy_policies(tmp_path: Path) -> Path:
    for path in POLICY_DIR.glob("*.cedar*"):
        (tmp_path / path.name).write_text(path.read_text())
    return tmp_path


def test_a_policy_that_does_not_parse_stops_start_up(tmp_path):
    d = _copy_policies(tmp_path)
    (d / "broken.cedar").write_text('@id("x")\n@reason("X")\npermit (principal, action, resource) when { ;')
    with pytest.raises(PolicyLoadError):
        PolicyEngine.load(d)


def test_a_policy_that_does_not_validate_stops_start_up(tmp_path):
    d = _copy_policies(tmp_path)
    (d / "bad.cedar").write_text('@id("bad")\n@reason("X")\npermit (principal, action == Action::"route", resource)'
                                 ' when { context.no_such_fact };')
    # The operator is told what is wrong: Cedar's own finding, naming the attribute.
    with pytest.raises(PolicyLoadError, match="do not validate against the schema: .*no_such_fact"):
        PolicyEngine.load(d)


def test_every_reason_code_needs_its_check(tmp_path):
    d = _copy_policies(tmp_path)
    text = (d / "checks.cedar").read_text().replace('@reason("PATIENT_OBJECTION")', '@reason("SOMETHING_ELSE")')
    (d / "checks.cedar").write_text(text)
    with pytest.raises(PolicyLoadError, match="PATIENT_OBJECTION"):
        PolicyEngine.load(d)


def test_a_forbid_policy_with_an_error_cannot_turn_into_a_permit(tmp_path):
    """Cedar skips a policy that errors. A forbid written on a missing attribute would be skipped
    and let the permit through; the engine treats any evaluation error as a deny."""
    d = _copy_policies(tmp_path)
    (d / "zz_forbid.cedar").write_text(
        '@id("forbid.objection")\n@reason("PATIENT_OBJECTION")\n'
        'forbid (principal, action == Action::"route", resource) when { context.patient.objected };')
    engine = PolicyEngine.load(d)
    assert engine.reasons_by_id["forbid.objection"] == "PATIENT_OBJECTION"  # a forbid's annotations are read too
    facts = copy.deepcopy(BASELINE)
    del facts["patient"]["objected"]  # the forbid errors on the missing attribute and is skipped
    verdict = engine.evaluate("gw", "tool", facts)
    assert not verdict.permit
    assert "POLICY_ERROR" in verdict.failed


# The engine's own rules the mutation run of 2026-11-30 found untested (docs/testing.md).

def test_a_verdict_names_the_policies_that_decided(policy_engine):
    assert policy_engine.evaluate("gw", "tool", BASELINE).rules == ("route",)
    facts = _merge(BASELINE, {"gateway": {"active": False}, "patient": {"objected": True}})
    verdict = policy_engine.evaluate("gw", "tool", facts)
    assert (verdict.permit, verdict.failed, verdict.rules, verdict.errors) == (
        False, ("GATEWAY_INACTIVE", "PATIENT_OBJECTION"), ("check.gateway-active", "check.no-objection"), ())


@pytest.mark.parametrize("principal, resource", [('gw"1', 'tool"'), ("gw\\", "tool\\"), ('\\"', '\\\\"')])
def test_quotes_and_backslashes_in_a_client_id_or_slug_are_escaped(policy_engine, principal, resource):
    """An id with a quote or a backslash is still a well-formed Cedar entity, not a policy error."""
    verdict = policy_engine.evaluate(principal, resource, BASELINE)
    assert verdict.permit and verdict.errors == ()
    assert _escape('gw\\"1') == 'gw\\\\\\"1'  # gw\"1 → gw\\\"1


def test_no_policies_or_no_schema_stops_start_up(tmp_path):
    with pytest.raises(PolicyLoadError, match="no policies"):
        PolicyEngine.load(tmp_path)
    d = _copy_policies(tmp_path)
    (d / "schema.cedarschema").unlink()
    with pytest.raises(PolicyLoadError, match="no policies or schema"):
        PolicyEngine.load(d)


@pytest.mark.parametrize("annotations, match", [
    ('@reason("X")\n', "no @id"), ('@id("extra")\n', "without @reason"),
    ('@id("extra")\n@reason("")\n', "without @reason"),
    ('@id("check.extra")\n@reason("NOT_A_CODE")\n', r"unknown \['NOT_A_CODE'\]"),
])
def test_every_policy_needs_an_id_and_a_reason_and_every_check_a_known_code(tmp_path, annotations, match):
    d = _copy_policies(tmp_path)
    (d / "extra.cedar").write_text(annotations + 'permit (principal, action == Action::"route", resource)'
                                   " when { context.gateway.active };")
    with pytest.raises(PolicyLoadError, match=match):
        PolicyEngine.load(d)


def test_a_check_lost_is_named(tmp_path):
    d = _copy_policies(tmp_path)
    text = (d / "checks.cedar").read_text().replace('@reason("PATIENT_OBJECTION")', '@reason("QUOTA_EXHAUSTED")')
    (d / "checks.cedar").write_text(text)
    with pytest.raises(PolicyLoadError, match=r"missing \['PATIENT_OBJECTION'\], unknown \[\]"):
        PolicyEngine.load(d)


def test_the_policy_version_changes_with_the_schema_and_a_file_name(policy_engine, tmp_path):
    d = _copy_policies(tmp_path)
    assert PolicyEngine.load(d).version.startswith("sha256:") and len(policy_engine.version) == 7 + 64
    (d / "schema.cedarschema").write_text((d / "schema.cedarschema").read_text() + "\n// edit\n")
    assert PolicyEngine.load(d).version != policy_engine.version
    (tmp_path / "renamed").mkdir()
    d2 = _copy_policies(tmp_path / "renamed")
    (d2 / "route.cedar").rename(d2 / "route2.cedar")  # the same texts in the same order
    assert PolicyEngine.load(d2).version != policy_engine.version
