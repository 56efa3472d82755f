"""Cedar policy engine: parsed and validated once at start-up, evaluated per decision.

The decision is the single ``route`` permit (policies/route.cedar). Only when it denies are the
per-condition checks (policies/checks.cedar) evaluated, to list every failing condition: permits
are the common case and cost one Cedar evaluation.

A verdict is a pure function of the policies, the principal, the resource and the facts, and
the facts are a handful of booleans: the same question comes back for most studies, so verdicts
are remembered per engine (one engine per set of policy files). The one number among the facts,
``licence.quota_remaining``, counts down with every permit; where the policies only ever ask
whether it is above zero (proved on the policies' syntax tree at load time, see
:func:`_quota_only_compared_to_zero`), the remembered verdict is keyed by that answer instead of
the count. Cedar itself costs about half a millisecond a call here, most of it fixed overhead of
the binding, so a remembered verdict saves more than any other step of a decision.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"

# The stable, documented order in which reasons are listed (docs/decisions.md).
REASON_CODES: tuple[str, ...] = (
    "GATEWAY_INACTIVE", "HOSPITAL_INACTIVE", "TOOL_UNKNOWN", "TOOL_SUSPENDED",
    "TOOL_CERTIFICATE_EXPIRED", "PURPOSE_UNKNOWN", "OUTSIDE_INTENDED_USE", "NO_LICENCE",
    "LICENCE_NOT_IN_FORCE", "CONTRACT_NOT_IN_FORCE", "QUOTA_EXHAUSTED", "NO_AGREEMENT",
    "AGREEMENT_NOT_SIGNED", "AGREEMENT_NOT_IN_FORCE", "PURPOSE_NOT_COVERED",
    "SUBPROCESSOR_NOT_APPROVED", "DEPLOYMENT_NOT_APPROVED", "PATIENT_OBJECTION",
)
# Not a condition of its own: an evaluation error, which is always a deny.
POLICY_ERROR = "POLICY_ERROR"
ROUTE_ACTION = 'Action::"route"'
# Verdicts remembered per engine; far more than the distinct questions a registry asks (gateways ×
# tools × the combinations of facts that actually occur). When full it starts again, empty.
VERDICT_CACHE_SIZE = 10_000  # about 7 MB at most (a key is some 600 characters of JSON)

_ANNOTATION = re.compile(r'@(id|reason)\("([^"]*)"\)')


class PolicyLoadError(RuntimeError):
    """Raised at start-up when a policy file does not parse or does not validate."""


@dataclass(frozen=True)
class Verdict:
    permit: bool
    failed: tuple[str, ...]  # reason codes, in REASON_CODES order (POLICY_ERROR last)
    rules: tuple[str, ...]  # @id of the policies that decided
    errors: tuple[str, ...] = ()


@dataclass
class PolicyEngine:
    policy_set: Any
    version: str
    # @id → @reason of every policy, read from the files.
    reasons_by_id: dict[str, str] = field(default_factory=dict)
    _entities: Any = None
    # True when the policies use licence.quota_remaining only as ``quota_remaining > 0``.
    quota_only_compared_to_zero: bool = False
    _verdicts: dict[tuple[str, str, str], Verdict] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, directory: Path = POLICY_DIR) -> "PolicyEngine":
        files = sorted(directory.glob("*.cedar"))
        schema_path = directory / "schema.cedarschema"
        if not files or not schema_path.exists():
            raise PolicyLoadError(f"no policies or schema in {directory}")
        texts = [p.read_text(encoding="utf-8") for p in files]
        schema_text = schema_path.read_text(encoding="utf-8")
        policies = "\n".join(texts)
        try:
            result = cedarpy.validate_policies(policies, schema_text)
        except Exception as exc:  # a parse error surfaces as an exception from the binding
            raise PolicyLoadError(f"policies do not parse: {exc}") from exc
        if not result.validation_passed:
            raise PolicyLoadError("policies do not validate against the schema: "
                                  + "; ".join(str(e) for e in result.errors))
        try:
            policy_set = cedarpy.PolicySet.from_str(policies)
        except ValueError as exc:
            raise PolicyLoadError(f"policies do not parse: {exc}") from exc
        reasons_by_id = _annotations(policies)
        missing = [pid for pid, reason in reasons_by_id.items() if not reason]
        if missing:
            raise PolicyLoadError(f"policies without @reason: {missing}")
        checks = {r for pid, r in reasons_by_id.items() if pid.startswith("check.")}
        if checks != set(REASON_CODES):
            raise PolicyLoadError(f"checks.cedar must state exactly one check per reason code; "
                                  f"missing {sorted(set(REASON_CODES) - checks)}, "
                                  f"unknown {sorted(checks - set(REASON_CODES))}")
        digest = hashlib.sha256()
        for path, text in zip(files + [schema_path], texts + [schema_text]):
            digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        return cls(policy_set=policy_set, version="sha256:" + digest.hexdigest(),
                   reasons_by_id=reasons_by_id, _entities=cedarpy.Entities.from_json_str("[]"),
                   quota_only_compared_to_zero=_quota_only_compared_to_zero(
                       json.loads(cedarpy.policies_to_json_str(policies))))

    def evaluate(self, principal: str, resource: str, context: dict[str, Any]) -> Verdict:
        """Permit only if the route policy permits without any error; otherwise list every failure.

        Remembered per (principal, resource, facts); a verdict with an evaluation error never is,
        so a passing fault in the binding is not repeated from memory."""
        key = (principal, resource, self._facts_key(context))
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self.evaluate_uncached(principal, resource, context)
            if not verdict.errors:
                if len(self._verdicts) >= VERDICT_CACHE_SIZE:
                    self._verdicts.clear()
                self._verdicts[key] = verdict
        return verdict

    def _facts_key(self, context: dict[str, Any]) -> str:
        if self.quota_only_compared_to_zero:
            licence = context.get("licence")
            if isinstance(licence, dict) and isinstance(licence.get("quota_remaining"), int):
                context = dict(context, licence=dict(
                    licence, quota_remaining=1 if licence["quota_remaining"] > 0 else 0))
        return json.dumps(context, sort_keys=True, separators=(",", ":"))

    def evaluate_uncached(self, principal: str, resource: str, context: dict[str, Any]) -> Verdict:
        """One evaluation by Cedar, nothing remembered (:meth:`evaluate` is what callers use)."""
        request = {"principal": f'Gateway::"{_escape(principal)}"', "action": ROUTE_ACTION,
                   "resource": f'Tool::"{_escape(resource)}"', "context": context}
        try:
            result = cedarpy.is_authorized(request, self.policy_set, self._entities)
            errors = tuple(result.diagnostics.errors)
            allowed = result.decision == cedarpy.Decision.Allow and not errors
        except Exception as exc:  # anything the binding raises is a deny, never a permit
            return Verdict(False, (POLICY_ERROR,), (), (str(exc),))
        if allowed:
            rules = tuple(result.diagnostics.id_annotations_by_reason.get(r, r)
                          for r in result.diagnostics.reasons)
            return Verdict(True, (), rules, ())
        failed, check_errors = self._explain(request)
        all_errors = errors + check_errors
        if all_errors or not failed:
            # No condition failed yet the route did not permit: an error or a policy bug. Deny.
            failed = failed + (POLICY_ERROR,)
        ids = {reason: pid for pid, reason in self.reasons_by_id.items() if pid.startswith("check.")}
        return Verdict(False, failed, tuple(ids.get(c, c) for c in failed), all_errors)

    def _explain(self, route_request: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        requests = [dict(route_request, action=f'Action::"check:{code}"') for code in REASON_CODES]
        try:
            results = cedarpy.is_authorized_batch(requests, self.policy_set, self._entities)
        except Exception as exc:
            return (), (str(exc),)
        failed, errors = [], []
        for code, result in zip(REASON_CODES, results):
            errs = list(result.diagnostics.errors)
            if result.decision != cedarpy.Decision.Allow or errs:
                failed.append(code)
            errors.extend(errs)
        return tuple(failed), tuple(errors)


_CONTEXT = {"Var": "context"}
_LICENCE = {".": {"left": _CONTEXT, "attr": "licence"}}
_QUOTA_REMAINING = {".": {"left": _LICENCE, "attr": "quota_remaining"}}


def _quota_only_compared_to_zero(node: Any) -> bool:
    """True when the policies (Cedar's JSON syntax tree) read ``context.licence.quota_remaining``
    only in ``quota_remaining > 0``, and never use ``context`` or ``context.licence`` whole (which
    would carry the count along): then every count above zero gives the same verdict, and so
    does every count at or below it. Anything else, and verdicts are remembered per exact count."""
    if isinstance(node, list):
        return all(_quota_only_compared_to_zero(item) for item in node)
    if not isinstance(node, dict):
        return True
    if node.get(">") == {"left": _QUOTA_REMAINING, "right": {"Value": 0}}:
        return True
    if node in (_CONTEXT, _LICENCE, _QUOTA_REMAINING):
        return False  # used whole, or the count in any other way
    access = node.get(".") or node.get("has")
    if isinstance(access, dict) and access.get("left") in (_CONTEXT, _LICENCE):
        # Another attribute of context or of context.licence (or whether one is present): fine.
        return True
    return all(_quota_only_compared_to_zero(value) for value in node.values())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _annotations(policies: str) -> dict[str, str]:
    """@id → @reason for every policy, from the annotations preceding each one."""
    out: dict[str, str] = {}
    current: dict[str, str] = {}
    for line in policies.splitlines():
        stripped = line.strip()
        for kind, value in _ANNOTATION.findall(stripped):
            current[kind] = value
        if stripped.startswith(("permit", "forbid")):
            if "id" not in current:
                raise PolicyLoadError(f"a policy has no @id: {stripped[:60]}")
            out[current["id"]] = current.get("reason", "")
            current = {}
    return out
