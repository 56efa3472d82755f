"""The agreement lifecycle as a pure state machine: every legal and illegal transition, what each
carries, Art. 28(3) completeness, four eyes, expiry from dates, the terms hash, and which signatures
count (both parties, valid, over the current terms; a certificate matched to its party)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.domain.agreements import (ART28_KEYS, CLAUSE_KEYS, PARTIES, TRANSITIONS, AgreementState, Party,
                                        Request, SignatureFact, Status, TransitionRefused, allowed_from,
                                        checklist, missing_elements, parties_signed, plan_transition,
                                        signed_moment, signing_party, standing, terms_hash)

TODAY = date(2026, 6, 1)
DRAFTER, EDITOR, REVIEWER = "user:1", "user:2", "user:3"

COMPLETE = {"subject": "AI analysis of radiographs", "effective_on": date(2026, 7, 1), "ends_on": None,
            "purposes": ["clinical-care"], "data_categories": ["DICOM images"],
            "data_subjects": ["patients"], "deletion_terms": "delete at the end",
            "breach_notification_hours": 24, "security_certificate": "ISO 27001",
            "clauses": {k: f"clause {k}" for k in CLAUSE_KEYS}}

# What each transition needs to go through, besides ``to``.
CARRIES = {"signed": {"signed_on": date(2026, 5, 30), "effective_on": date(2026, 7, 1)},
           "terminated": {"terminated_on": date(2026, 5, 31), "deletion_due_on": date(2026, 6, 30)}}


def _request(frm: Status, to: Status, note: str = "a reason") -> Request:
    extra = CARRIES.get(to, {}) if (frm, to) != (Status.SUSPENDED, Status.SIGNED) else {}
    return Request(to=to, note=note, **extra)


def _plan(status: str, request: Request, actor: str = REVIEWER, roles: tuple[str, ...] = ("legal",),
          terms: dict | None = None, signed_by: frozenset[str] = frozenset(PARTIES)):
    state = AgreementState(status=status, terms=COMPLETE if terms is None else terms, drafted_by=DRAFTER,
                           terms_changed_by=EDITOR, signed_by=signed_by)
    return plan_transition(state, request, actor_ref=actor, actor_roles=roles, today=TODAY)


@pytest.mark.parametrize(("frm", "to"), sorted(TRANSITIONS))
def test_every_legal_transition_goes_through_with_what_it_carries(frm, to):
    action, changes = _plan(frm, _request(frm, to))
    assert changes["status"] == to and action == TRANSITIONS[(frm, to)].action
    if to == Status.TERMINATED:
        assert changes["terminated_on"] == date(2026, 5, 31) and changes["deletion_due_on"] == date(2026, 6, 30)
    if (frm, to) == (Status.APPROVED, Status.SIGNED):
        assert changes["signed_on"] == date(2026, 5, 30) and changes["effective_on"] == date(2026, 7, 1)


ILLEGAL = [(a, b) for a in Status for b in Status if (a, b) not in TRANSITIONS]


@pytest.mark.parametrize(("frm", "to"), ILLEGAL)
def test_every_illegal_transition_is_refused_naming_the_allowed_ones(frm, to):
    with pytest.raises(TransitionRefused) as refused:
        _plan(frm, _request(frm, to))
    allowed = allowed_from(frm)
    assert all(name in refused.value.detail for name in allowed)
    assert "allowed" in refused.value.fields["to"]


def test_terminated_is_final_and_unknown_states_are_refused():
    assert allowed_from(Status.TERMINATED) == []
    with pytest.raises(TransitionRefused):
        _plan(Status.DRAFT, Request(to="expired"))


@pytest.mark.parametrize(("frm", "to", "missing"), [
    (Status.APPROVED, Status.SIGNED, "signed_on"),
    (Status.SIGNED, Status.TERMINATED, "terminated_on"),
    (Status.SIGNED, Status.TERMINATED, "deletion_due_on"),
])
def test_a_transition_without_what_it_needs_is_refused(frm, to, missing):
    request = _request(frm, to)
    with pytest.raises(TransitionRefused) as refused:
        _plan(frm, Request(**{**request.__dict__, missing: None}), terms={**COMPLETE, "effective_on": None})
    assert missing in refused.value.fields


@pytest.mark.parametrize(("frm", "to"), [(Status.IN_REVIEW, Status.DRAFT), (Status.SIGNED, Status.SUSPENDED),
                                         (Status.SUSPENDED, Status.SIGNED), (Status.SIGNED, Status.TERMINATED)])
def test_going_back_suspending_reinstating_and_terminating_need_a_reason(frm, to):
    with pytest.raises(TransitionRefused) as refused:
        _plan(frm, _request(frm, to, note="  "))
    assert "note" in refused.value.fields


def test_dates_carried_must_make_sense():
    with pytest.raises(TransitionRefused) as refused:
        _plan(Status.SIGNED, Request(to="terminated", note="x", terminated_on=TODAY + timedelta(days=1),
                                     deletion_due_on=TODAY + timedelta(days=30)))
    assert "terminated_on" in refused.value.fields
    with pytest.raises(TransitionRefused) as refused:
        _plan(Status.SIGNED, Request(to="terminated", note="x", terminated_on=TODAY,
                                     deletion_due_on=TODAY - timedelta(days=1)))
    assert "deletion_due_on" in refused.value.fields
    with pytest.raises(TransitionRefused) as refused:
        _plan(Status.APPROVED, Request(to="signed", signed_on=TODAY, effective_on=date(2026, 7, 1),
                                       ends_on=date(2026, 6, 30)))
    assert "ends_on" in refused.value.fields


# -- approval: Art. 28(3) and four eyes --------------------------------------------------------------

def test_the_checklist_names_every_art28_element_and_a_complete_agreement_has_all():
    assert [i.key for i in checklist(COMPLETE)] == list(ART28_KEYS)
    assert missing_elements(COMPLETE) == []
    assert set(missing_elements({})) == set(ART28_KEYS)


@pytest.mark.parametrize("element", ART28_KEYS)
def test_approval_is_refused_while_one_element_is_missing(element):
    terms = {**COMPLETE, "clauses": dict(COMPLETE["clauses"])}
    removal = {"subject_duration": ("subject",), "nature_purpose": ("purposes",),
               "data_types": ("data_categories",), "data_subjects": ("data_subjects",),
               "security": ("security_certificate", "clauses.security"),
               "assistance_breach": ("breach_notification_hours",), "deletion_return": ("deletion_terms",)}
    for name in removal.get(element, (f"clauses.{element}",)):
        if name.startswith("clauses."):
            terms["clauses"].pop(name.split(".")[1])
        else:
            terms[name] = None
    assert missing_elements(terms) == [element]
    with pytest.raises(TransitionRefused) as refused:
        _plan(Status.IN_REVIEW, Request(to="approved"), terms=terms)
    assert element in refused.value.fields["checklist"]


@pytest.mark.parametrize(("actor", "roles", "ok"), [
    (REVIEWER, ("legal",), True),
    (DRAFTER, ("legal",), False),  # drafted the terms
    (EDITOR, ("legal",), False),  # changed them last
    (REVIEWER, ("admin",), False),  # not a legal reviewer
    (REVIEWER, ("procurement",), False),
])
def test_four_eyes_and_approval_by_legal(actor, roles, ok):
    if ok:
        assert _plan(Status.IN_REVIEW, Request(to="approved"), actor=actor, roles=roles)[1]["approved_by"] == actor
    else:
        with pytest.raises(TransitionRefused) as refused:
            _plan(Status.IN_REVIEW, Request(to="approved"), actor=actor, roles=roles)
        assert "to" in refused.value.fields


@pytest.mark.parametrize("signed_by", [frozenset(), frozenset({"controller"}), frozenset({"processor"})])
def test_signing_needs_both_parties_valid_signatures_over_the_current_terms(signed_by):
    with pytest.raises(TransitionRefused) as refused:
        _plan(Status.APPROVED, _request(Status.APPROVED, Status.SIGNED), signed_by=signed_by)
    message = refused.value.fields["signatures"]
    assert all((party in message) == (party not in signed_by) for party in PARTIES)
    # Reinstating a suspended agreement is no new signature: it was signed already.
    assert _plan(Status.SUSPENDED, _request(Status.SUSPENDED, Status.SIGNED), signed_by=signed_by)[1]["status"] == "signed"


PARTIES_OF = [Party("controller", "Demo Ziekenhuis Noord"), Party("processor", "Alphatron Zorgverbinders", "17999001")]


@pytest.mark.parametrize(("name", "identifier", "party"), [
    ("Demo Ziekenhuis Noord", "", "controller"),
    ("  demo ziekenhuis   NOORD ", "", "controller"),  # case and spacing aside
    ("Alphatron Zorgverbinders", "", "processor"),
    ("Anything at all", "NTRNL-17999001", "processor"),  # the KvK identifier decides alone
    ("Alphatron Zorgverbinders", "NTRNL-12345678", None),  # ... also against the name
    ("Demo Ziekenhuis Noord", "VATNL-123456789B01", "controller"),  # another scheme: the name decides
    ("Demo Ziekenhuis", "", None),
    ("", "", None),
])
def test_a_certificate_is_matched_to_a_party_by_kvk_identifier_or_else_by_name(name, identifier, party):
    assert signing_party(name, identifier, PARTIES_OF) == party


def test_only_valid_signatures_of_a_party_over_the_current_terms_count():
    at = datetime(2026, 5, 30, 9, tzinfo=timezone.utc)
    later = datetime(2026, 5, 31, 9, tzinfo=timezone.utc)
    facts = [SignatureFact("controller", True, "new", at), SignatureFact("processor", False, "new", at),
             SignatureFact(None, True, "new", at), SignatureFact("processor", True, "old", at)]
    assert parties_signed(facts, "new") == {"controller"} and signed_moment(facts, "new") is None
    facts.append(SignatureFact("processor", True, "new", later))
    assert parties_signed(facts, "new") == set(PARTIES) and signed_moment(facts, "new") == later
    assert parties_signed(facts, "newer") == frozenset()


# -- properties ------------------------------------------------------------------------------------

requests = st.builds(Request, to=st.sampled_from([*Status, "expired"]), note=st.sampled_from(["", "why"]),
                     signed_on=st.none() | st.just(date(2026, 5, 1)),
                     effective_on=st.none() | st.just(date(2026, 7, 1)),
                     terminated_on=st.none() | st.just(date(2026, 5, 31)),
                     deletion_due_on=st.none() | st.just(date(2026, 6, 30)))


@settings(max_examples=300, deadline=None)
@given(st.lists(requests, max_size=25), st.sampled_from(["legal", "admin"]),
       st.sets(st.sampled_from(PARTIES)).map(frozenset))
def test_any_sequence_of_requests_moves_only_along_the_table(sequence, role, signed_by):
    status = Status.DRAFT
    for request in sequence:
        try:
            _action, changes = _plan(status, request, roles=(role,), signed_by=signed_by)
        except TransitionRefused:
            continue  # refused: nothing changes
        assert (status, changes["status"]) in TRANSITIONS
        if changes["status"] == Status.APPROVED:
            assert role == "legal"
        if (status, changes["status"]) == (Status.APPROVED, Status.SIGNED):
            assert signed_by == frozenset(PARTIES)
        status = Status(changes["status"])
    assert status in set(Status)


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(days, st.none() | days, days)
def test_expiry_is_derived_from_the_dates(effective, ends, day):
    if ends is not None and ends < effective:
        effective, ends = ends, effective
    state = standing("signed", effective, ends, day)
    assert (state == "in_force") == (effective <= day and (ends is None or day <= ends))
    assert (state == "expired") == (ends is not None and day > ends)
    assert standing("suspended", effective, ends, day) == "suspended"


@given(st.sampled_from(["subject", "purposes", "ends_on", "clauses", "processor_id"]))
def test_the_terms_hash_is_canonical_and_covers_every_term(field):
    same = dict(reversed(list(COMPLETE.items())))
    assert terms_hash(COMPLETE) == terms_hash(same)
    changed = {**COMPLETE, field: {"subject": "other", "purposes": ["research"], "ends_on": date(2027, 1, 1),
                                   "clauses": {}, "processor_id": 99}[field]}
    assert terms_hash(changed) != terms_hash(COMPLETE)
    assert terms_hash(COMPLETE, [{"name": "Hosting BV"}]) != terms_hash(COMPLETE)
