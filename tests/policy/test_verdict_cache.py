"""Remembered verdicts (registry/policy/engine.py): the same answer Cedar gives, every time."""

from __future__ import annotations

import copy
import json

import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.policy.engine import POLICY_DIR, PolicyEngine

BASELINE = json.loads((POLICY_DIR / "tests" / "baseline.json").read_text())
_bools = st.booleans()
# The facts the policies read, with the quota count around its edge (zero) and beyond.
_facts = st.fixed_dictionaries({
    "licence": st.fixed_dictionaries({"present": _bools, "in_force": _bools, "contract_in_force": _bools,
                                      "quota_limited": _bools, "overage_allowed": _bools,
                                      "quota_remaining": st.integers(-3, 3) | st.integers(-10**9, 10**9)}),
    "agreement": st.fixed_dictionaries({"signed": _bools, "in_force": _bools}),
    "patient": st.fixed_dictionaries({"objected": _bools}),
})


def _with(overrides: dict) -> dict:
    facts = copy.deepcopy(BASELINE)
    for key, value in overrides.items():
        facts[key].update(value)
    return facts


def _copy_policies(tmp_path, replace: tuple[str, str] | None = None):
    for path in POLICY_DIR.glob("*.cedar*"):
        text = path.read_text()
        if replace:
            text = text.replace(*replace)
        (tmp_path / path.name).write_text(text)
    return tmp_path


_REMEMBERING = PolicyEngine.load()


@settings(max_examples=400, deadline=None)
@given(st.lists(_facts, min_size=2, max_size=6))
def test_a_remembered_verdict_is_the_verdict_cedar_gives(sequence):
    """Whatever was asked before (one engine for the whole run, as in a server process), each
    answer equals Cedar's own answer for exactly these facts. Broken by: keying on a count
    clamped the wrong way (0 taken as above zero), or a key that leaves out a fact."""
    for overrides in sequence:
        facts = _with(overrides)
        assert _REMEMBERING.evaluate("gw", "tool", facts) == _REMEMBERING.evaluate_uncached("gw", "tool", facts)


def test_the_policies_as_shipped_let_every_count_above_zero_share_one_verdict():
    engine = PolicyEngine.load()
    assert engine.quota_only_compared_to_zero
    engine.evaluate("gw", "tool", _with({"licence": {"quota_limited": True, "quota_remaining": 7}}))
    engine.evaluate("gw", "tool", _with({"licence": {"quota_limited": True, "quota_remaining": 6}}))
    engine.evaluate("gw", "tool", _with({"licence": {"quota_limited": True, "quota_remaining": 0}}))
    assert len(engine._verdicts) == 2  # above zero, and zero


@pytest.mark.parametrize("edit", [
    ("quota_remaining > 0", "quota_remaining > 3"),  # another threshold
    ("context.licence.quota_remaining > 0", "0 < context.licence.quota_remaining"),  # another form
])
def test_policies_that_read_the_count_otherwise_are_remembered_per_exact_count(tmp_path, edit):
    engine = PolicyEngine.load(_copy_policies(tmp_path, edit))
    assert not engine.quota_only_compared_to_zero
    limited = {"quota_limited": True, "overage_allowed": False}
    answers = [engine.evaluate("gw", "tool", _with({"licence": dict(limited, quota_remaining=n)})).permit
               for n in (5, 2, 0)]
    expected = [engine.evaluate_uncached("gw", "tool", _with({"licence": dict(limited, quota_remaining=n)})).permit
                for n in (5, 2, 0)]
    assert answers == expected and answers[0] is True and answers[2] is False


def test_a_policy_that_uses_the_licence_facts_whole_is_never_keyed_by_a_clamped_count(tmp_path):
    d = _copy_policies(tmp_path)
    (d / "zz_whole.cedar").write_text(
        '@id("forbid.whole")\n@reason("QUOTA_EXHAUSTED")\n'
        'forbid (principal, action == Action::"route", resource) when { context.licence == '
        '{"present": true, "in_force": true, "contract_in_force": true, "quota_limited": true, '
        '"quota_remaining": 2, "overage_allowed": false} };')
    assert not PolicyEngine.load(d).quota_only_compared_to_zero


def test_asking_whether_the_licence_has_another_fact_keeps_one_verdict_for_every_count(tmp_path):
    """``context.licence has …`` reads no count: the verdicts stay keyed by "above zero or not".
    Broken by: not knowing Cedar's ``has`` node, which then looks like the licence used whole."""
    d = _copy_policies(tmp_path)
    (d / "zz_has.cedar").write_text(
        '@id("forbid.has")\n@reason("NO_LICENCE")\n'
        'forbid (principal, action == Action::"route", resource) unless { context.licence has present };')
    engine = PolicyEngine.load(d)
    assert engine.quota_only_compared_to_zero
    for n in (7, 6):
        engine.evaluate("gw", "tool", _with({"licence": {"quota_limited": True, "quota_remaining": n}}))
    assert len(engine._verdicts) == 1


def test_a_question_asked_again_is_answered_from_memory(monkeypatch):
    """What the memory is for: Cedar is asked once per distinct question (gateway, tool, facts),
    a permit as well as a deny. Broken by: looking the verdict up under another key, or not at all."""
    engine = PolicyEngine.load()
    real, calls = cedarpy.is_authorized, []

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args[0]["principal"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cedarpy, "is_authorized", counted)
    denied = _with({"agreement": {"signed": False}})
    for _ in range(3):
        assert engine.evaluate("gw", "tool", BASELINE).permit is True
        assert engine.evaluate("gw", "tool", denied).permit is False
    assert engine.evaluate("gw-2", "tool", BASELINE).permit is True  # another gateway: asked
    # The same facts put together in another order (another code path) are the same question.
    reordered = {key: dict(reversed(BASELINE[key].items())) for key in reversed(BASELINE)}
    assert engine.evaluate("gw", "tool", reordered).permit is True
    assert calls == ['Gateway::"gw"', 'Gateway::"gw"', 'Gateway::"gw-2"']


def test_a_verdict_with_an_evaluation_error_is_not_remembered(monkeypatch):
    """A passing fault in the binding must not be repeated from memory (and must never become a
    permit): the next question is asked of Cedar again."""
    engine = PolicyEngine.load()
    real = cedarpy.is_authorized

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the policy engine failed")

    monkeypatch.setattr(cedarpy, "is_authorized", boom)
    assert engine.evaluate("gw", "tool", BASELINE).failed == ("POLICY_ERROR",)
    monkeypatch.setattr(cedarpy, "is_authorized", real)
    assert engine.evaluate("gw", "tool", BASELINE).permit is True


def test_a_full_cache_starts_again_rather_than_growing(monkeypatch):
    import registry.policy.engine as engine_module

    monkeypatch.setattr(engine_module, "VERDICT_CACHE_SIZE", 3)
    engine = PolicyEngine.load()
    sizes = []
    for n in range(5):
        engine.evaluate(f"gw-{n}", "tool", BASELINE)
        sizes.append(len(engine._verdicts))
    assert sizes == [1, 2, 3, 1, 2]  # never more than the size: full, it starts again
