"""Loading the policies: what an operator is told when they do not load, and the policy version
every decision stores (docs/decisions.md). Found untested by the mutation run's part 7
(docs/testing.md)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cedarpy
import pytest

from registry.policy.engine import POLICY_DIR, PolicyEngine, PolicyLoadError


def _copy_policies(tmp_path: Path) -> Path:
    for path in POLICY_DIR.glob("*.cedar*"):
        (tmp_path / path.name).write_text(path.read_text())
    return tmp_path


def test_the_policy_version_is_the_documented_hash_of_the_files(policy_engine):
    """An auditor can recompute a decision's ``policy_version`` from the files: SHA-256 over each
    policy file in name order and then the schema, each as its name, a NUL, its text, a NUL."""
    digest = hashlib.sha256()
    for path in sorted(POLICY_DIR.glob("*.cedar")) + [POLICY_DIR / "schema.cedarschema"]:
        digest.update(path.name.encode() + b"\0" + path.read_text(encoding="utf-8").encode() + b"\0")
    assert policy_engine.version == "sha256:" + digest.hexdigest()


def test_policies_the_binding_cannot_read_are_reported_as_not_parsing(tmp_path, monkeypatch):
    """Cedar reports most syntax errors as validation errors; what its binding raises instead is
    said plainly, with the binding's own message."""
    d = _copy_policies(tmp_path)

    def refuse(*args):  # noqa: ANN002
        raise RuntimeError("unexpected end of input")

    monkeypatch.setattr(cedarpy, "validate_policies", refuse)
    with pytest.raises(PolicyLoadError, match=r"^policies do not parse: unexpected end of input$"):
        PolicyEngine.load(d)


def test_a_policy_set_the_binding_refuses_after_validation_is_reported(tmp_path, monkeypatch):
    d = _copy_policies(tmp_path)

    def refuse(text):  # noqa: ANN001
        raise ValueError("not a policy set")

    monkeypatch.setattr(cedarpy.PolicySet, "from_str", staticmethod(refuse))
    with pytest.raises(PolicyLoadError, match=r"^policies do not parse: not a policy set$"):
        PolicyEngine.load(d)


def test_every_validation_error_is_listed_one_after_another(tmp_path):
    d = _copy_policies(tmp_path)
    (d / "bad.cedar").write_text(
        '@id("bad.1")\n@reason("X")\npermit (principal, action == Action::"route", resource)'
        ' when { context.no_such_fact };\n'
        '@id("bad.2")\n@reason("Y")\npermit (principal, action == Action::"route", resource)'
        ' when { context.other_missing };\n')
    with pytest.raises(PolicyLoadError) as raised:
        PolicyEngine.load(d)
    # Cedar's findings as it words them ("[policy0] for policy `policy0`, attribute … not found"),
    # one after the other.
    assert re.fullmatch(r"policies do not validate against the schema: "
                        r"\[\w+\] [^;]*`no_such_fact`[^;]* not found; \[\w+\] [^;]*`other_missing`[^;]* not found",
                        str(raised.value))


def test_a_policy_without_an_id_is_quoted_in_sixty_characters(tmp_path):
    d = _copy_policies(tmp_path)
    policy = 'permit (principal, action == Action::"route", resource) when { context.gateway.active };'
    (d / "extra.cedar").write_text('@reason("X")\n' + policy)
    with pytest.raises(PolicyLoadError) as raised:
        PolicyEngine.load(d)
    assert str(raised.value) == "a policy has no @id: " + policy[:60]
