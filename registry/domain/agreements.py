"""The lifecycle of a data-processing agreement (verwerkersovereenkomst, GDPR Art. 28): one explicit
state machine, the Art. 28(3) completeness checklist, the four-eyes rule and the terms hash.

Pure: no Flask, no SQL. The services load the agreement, ask :func:`plan_transition` what a
transition changes (or why it is refused), and write the result with its change record.

::

    draft ──► in_review ──► approved ──► signed ◄──► suspended
      ▲           │                        │            │
      └─(reason)──┘                        └──► terminated ◄┘

Expiry is never a stored state: a signed agreement is in force from ``effective_on`` up to and
including ``ends_on`` (Europe/Amsterdam, see :mod:`registry.domain.terms`), and :func:`standing`
derives "not yet in force" and "expired" from those dates.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Callable, Mapping

from registry.domain.terms import in_force


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"  # with legal
    APPROVED = "approved"  # legal approved the terms; awaiting signatures
    SIGNED = "signed"
    SUSPENDED = "suspended"  # signed, but routing stopped until reinstated
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Rule:
    """One allowed transition: what it needs besides ``to`` and what it is called in the log."""

    action: str
    needs: tuple[str, ...] = ()  # fields that must be given
    reason_required: bool = False


S = Status
# The one table of the machine. Termination is also allowed from suspended: otherwise ending a
# suspended agreement would first have to reinstate it, letting studies flow in between.
TRANSITIONS: dict[tuple[Status, Status], Rule] = {
    (S.DRAFT, S.IN_REVIEW): Rule("submit_for_review"),
    (S.IN_REVIEW, S.DRAFT): Rule("return_to_draft", reason_required=True),
    (S.IN_REVIEW, S.APPROVED): Rule("approve"),
    (S.APPROVED, S.SIGNED): Rule("sign", needs=("signed_on", "effective_on")),
    (S.SIGNED, S.SUSPENDED): Rule("suspend", reason_required=True),
    (S.SUSPENDED, S.SIGNED): Rule("reinstate", reason_required=True),
    (S.SIGNED, S.TERMINATED): Rule("terminate", needs=("terminated_on", "deletion_due_on"),
                                   reason_required=True),
    (S.SUSPENDED, S.TERMINATED): Rule("terminate", needs=("terminated_on", "deletion_due_on"),
                                      reason_required=True),
}

# Terms may be edited in these states; editing approved or signed terms sends the agreement back
# to review (its approval and any signatures no longer cover what it says).
EDITABLE = (S.DRAFT, S.IN_REVIEW, S.APPROVED, S.SIGNED)
REOPENS_ON_EDIT = (S.APPROVED, S.SIGNED)

# The fields that make up the terms: what legal approves, parties sign and the hash covers.
TERMS_FIELDS = ("reference", "controller_id", "processor_id", "subject", "model", "purposes",
                "data_categories", "data_subjects", "processing_locations", "transfer_mechanism",
                "retention", "deletion_terms", "breach_notification_hours", "security_certificate",
                "security_certificate_expires_on", "clauses", "effective_on", "ends_on")


def allowed_from(status: str) -> list[str]:
    """The states an agreement in ``status`` may move to, in the machine's order."""
    return [str(to) for (frm, to) in TRANSITIONS if frm == status]


class TransitionRefused(ValueError):
    """A transition the machine or the rules do not allow; ``fields`` says where and why."""

    def __init__(self, detail: str, fields: dict[str, str]):
        super().__init__(detail)
        self.detail = detail
        self.fields = fields


# -- GDPR Art. 28(3) completeness ------------------------------------------------------------------

def _clause(key: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda t: bool(str((t.get("clauses") or {}).get(key, "")).strip())


def _text(key: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda t: bool(t.get(key)) and (not isinstance(t.get(key), str) or bool(t[key].strip()))


# (key, the article's clause, test over the terms). The keys are translated on the page
# (registry.workspace.labels, enum "art28").
ART28_ELEMENTS: tuple[tuple[str, str, Callable[[Mapping[str, Any]], bool]], ...] = (
    ("subject_duration", "28(3)", lambda t: _text("subject")(t) and bool(t.get("effective_on")
                                                                         or _clause("duration")(t))),
    ("nature_purpose", "28(3)", _text("purposes")),
    ("data_types", "28(3)", _text("data_categories")),
    ("data_subjects", "28(3)", _text("data_subjects")),
    ("instructions", "28(3)(a)", _clause("instructions")),
    ("confidentiality", "28(3)(b)", _clause("confidentiality")),
    ("security", "28(3)(c)", lambda t: _clause("security")(t) or _text("security_certificate")(t)),
    ("subprocessors", "28(3)(d)", _clause("subprocessors")),
    ("data_subject_rights", "28(3)(e)", _clause("data_subject_rights")),
    ("assistance_breach", "28(3)(f)", lambda t: _clause("assistance")(t)
     and (t.get("breach_notification_hours") or 0) > 0),
    ("deletion_return", "28(3)(g)", _text("deletion_terms")),
    ("audits", "28(3)(h)", _clause("audits")),
)
ART28_KEYS = tuple(key for key, _, _ in ART28_ELEMENTS)
# Elements written as free clauses (the rest come from the agreement's own fields).
CLAUSE_KEYS = ("duration", "instructions", "confidentiality", "security", "subprocessors",
               "data_subject_rights", "assistance", "audits")


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    article: str
    present: bool


def checklist(terms: Mapping[str, Any]) -> list[ChecklistItem]:
    """Each element Art. 28(3) requires, present or missing in these terms."""
    return [ChecklistItem(key, article, bool(test(terms))) for key, article, test in ART28_ELEMENTS]


def missing_elements(terms: Mapping[str, Any]) -> list[str]:
    return [item.key for item in checklist(terms) if not item.present]


# -- the terms hash --------------------------------------------------------------------------------

def _canonical(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def canonical_terms(terms: Mapping[str, Any], subprocessors: list[Mapping[str, Any]] = ()) -> bytes:
    """The terms as canonical JSON (sorted keys, no spaces, UTF-8): what the hash covers."""
    body = {k: _canonical(terms.get(k)) for k in TERMS_FIELDS}
    body["subprocessors"] = sorted(
        ({k: _canonical(sp.get(k)) for k in ("name", "organisation_id", "role", "location")}
         for sp in subprocessors), key=lambda sp: (sp["name"] or "", sp["organisation_id"] or 0))
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def terms_hash(terms: Mapping[str, Any], subprocessors: list[Mapping[str, Any]] = ()) -> str:
    """SHA-256 (hex) of :func:`canonical_terms`: printed in the document, checked on upload."""
    return hashlib.sha256(canonical_terms(terms, subprocessors)).hexdigest()


# -- transitions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgreementState:
    """What the machine needs to know about an agreement."""

    status: str
    terms: Mapping[str, Any] = field(default_factory=dict)
    drafted_by: str | None = None
    terms_changed_by: str | None = None
    # The parties with a valid signature over a PDF that prints the current terms hash
    # (see :func:`parties_signed`): signing needs both.
    signed_by: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Request:
    """A requested transition with everything it may carry."""

    to: str
    note: str = ""
    signed_on: date | None = None
    effective_on: date | None = None
    ends_on: date | None = None
    terminated_on: date | None = None
    deletion_due_on: date | None = None


def plan_transition(state: AgreementState, request: Request, *, actor_ref: str,
                    actor_roles: tuple[str, ...], today: date) -> tuple[str, dict[str, Any]]:
    """The action's name and the changes a transition makes, or :class:`TransitionRefused`.

    Checks in a fixed order: the machine (naming the allowed states), what the transition
    carries, then the rules of approval: Art. 28(3) completeness and four eyes.
    """
    allowed = allowed_from(state.status)
    rule = TRANSITIONS.get((state.status, request.to)) if request.to in set(Status) else None
    if rule is None:
        names = ", ".join(allowed) or "none (a final state)"
        raise TransitionRefused(f"an agreement cannot go from {state.status} to {request.to}; "
                                f"allowed: {names}", {"to": f"allowed from {state.status}: {names}"})
    fields: dict[str, str] = {}
    for name in rule.needs:
        if getattr(request, name) is None and not (name == "effective_on" and state.terms.get(name)):
            fields[name] = "is required"
    if rule.reason_required and not request.note.strip():
        fields["note"] = "a reason is required"
    changes: dict[str, Any] = {"status": request.to, "status_reason": request.note.strip() or None}
    if request.to == S.SIGNED and state.status == S.APPROVED and not fields:
        effective = request.effective_on or state.terms.get("effective_on")
        ends = request.ends_on if request.ends_on is not None else state.terms.get("ends_on")
        if request.signed_on > today:
            fields["signed_on"] = "cannot be in the future"
        if ends is not None and ends < effective:
            fields["ends_on"] = "ends before it takes effect"
        changes.update(signed_on=request.signed_on, effective_on=effective, ends_on=ends)
    if request.to == S.SIGNED and state.status == S.APPROVED:
        # Signed means both parties' valid signatures over a PDF printing the current terms hash:
        # the transition cannot claim what the uploaded documents do not show.
        missing = [party for party in PARTIES if party not in state.signed_by]
        if missing:
            fields["signatures"] = ("no valid signature over the current terms by the "
                                    + " and the ".join(missing) + " (upload the signed PDF)")
    if request.to == S.TERMINATED and not fields:
        if request.terminated_on > today:
            fields["terminated_on"] = "record a termination once it has happened (not in the future)"
        if request.deletion_due_on < request.terminated_on:
            fields["deletion_due_on"] = "must be on or after the termination date"
        # GDPR Art. 28(3)(g): the processor deletes or returns the data by this day.
        changes.update(terminated_on=request.terminated_on, deletion_due_on=request.deletion_due_on)
    if request.to == S.APPROVED:
        missing = missing_elements(state.terms)
        if missing:
            fields["checklist"] = "missing Art. 28(3) elements: " + ", ".join(missing)
        if "legal" not in actor_roles:
            fields["to"] = "approval needs a legal reviewer"
        elif actor_ref in {state.drafted_by, state.terms_changed_by}:
            # Four eyes: whoever drafted or last changed the terms does not approve them.
            fields["to"] = "whoever drafted or last changed the terms cannot approve them"
        changes["approved_by"] = actor_ref
    if fields:
        raise TransitionRefused(f"cannot move the agreement to {request.to}", fields)
    return rule.action, changes


# -- signatures (PAdES) ----------------------------------------------------------------------------

PARTIES = ("controller", "processor")
# ETSI EN 319 412-1 organizationIdentifier of a Dutch trade-register (KvK) number.
_KVK_IDENTIFIER = re.compile(r"NTRNL-(\d{8})")


@dataclass(frozen=True)
class Party:
    """What a signing certificate is matched against: the party's registered name and KvK number."""

    role: str  # controller or processor
    name: str
    kvk: str | None = None


def _plain(name: str) -> str:
    return " ".join(name.split()).casefold()


def signing_party(organisation_name: str, organisation_identifier: str, parties: list[Party]) -> str | None:
    """Which party a signing certificate belongs to, or None.

    The rule: a subject ``organizationIdentifier`` of the form ``NTRNL-<KvK number>`` (as PKIoverheid
    organisation certificates carry) decides alone: the party with that KvK number, else nobody.
    Without one, the subject's ``organizationName`` must equal the party's registered name (case and
    spacing aside)."""
    match = _KVK_IDENTIFIER.fullmatch(organisation_identifier.strip().upper())
    if match:
        found = [p.role for p in parties if p.kvk and p.kvk == match.group(1)]
    else:
        found = [p.role for p in parties if organisation_name.strip() and _plain(p.name) == _plain(organisation_name)]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class SignatureFact:
    """A recorded signature as far as the rule needs it."""

    party: str | None
    valid: bool
    terms_hash: str | None  # printed in the revision it covers
    signing_time: datetime | None = None


def counts(signature: SignatureFact, current_hash: str) -> bool:
    """A signature counts when it is valid, by a party, over a PDF printing the current terms hash."""
    return signature.valid and signature.party in PARTIES and signature.terms_hash == current_hash


def parties_signed(signatures: list[SignatureFact], current_hash: str) -> frozenset[str]:
    """The parties that have signed the current terms."""
    return frozenset(s.party for s in signatures if counts(s, current_hash))


def signed_moment(signatures: list[SignatureFact], current_hash: str) -> datetime | None:
    """When the current terms became signed by both: the later of each party's first counting
    signature (None while one is missing)."""
    first: dict[str, datetime] = {}
    for s in signatures:
        if counts(s, current_hash) and s.signing_time is not None:
            first[s.party] = min(first.get(s.party, s.signing_time), s.signing_time)
    return max(first.values()) if set(first) == set(PARTIES) else None


# -- standing on a day -----------------------------------------------------------------------------

def standing(status: str, effective_on: date | None, ends_on: date | None, day: date) -> str:
    """What the agreement amounts to on ``day``: its status, or for a signed one whether it is
    in force, not yet in force or expired (derived from the dates, never stored)."""
    if status != S.SIGNED:
        return status
    if in_force(effective_on, ends_on, day):
        return "in_force"
    if ends_on is not None and day > ends_on:
        return "expired"
    return "not_yet_in_force"


def ends_within(status: str, ends_on: date | None, day: date, days: int) -> bool:
    """A signed agreement that ends within ``days`` of ``day`` (an alert on the dashboard)."""
    return status == S.SIGNED and ends_on is not None and 0 <= (ends_on - day).days <= days
