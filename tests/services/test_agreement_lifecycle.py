"""The agreement lifecycle through the services and the database: a draft walked to signature by two
people, four eyes, the Art. 28(3) check, sub-processors with recorded approval, and the routing effect
of termination, suspension, expiry and a change of terms on the very next decision."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from registry.actor import Actor, PermissionDenied
from registry.db.agreements import SubProcessor
from registry.db.changes import ChangeRecord
from registry.domain.agreements import CLAUSE_KEYS
from registry.permissions import permissions_for_roles
from registry.services import agreements, decisions
from registry.services.errors import ValidationFailed
from tests.factories import child_hand, make_world
from tests.pades import upload_signed

DRAFTER = Actor(kind="user", id="501", label="drafter@example.org", roles=("legal",),
                permissions=permissions_for_roles(["legal"]))
REVIEWER = Actor(kind="user", id="502", label="reviewer@example.org", roles=("legal",),
                 permissions=permissions_for_roles(["legal"]))
ADMIN = Actor(kind="user", id="503", label="admin@example.org", roles=("admin",),
              permissions=permissions_for_roles(["admin"]))
VIEWER = Actor(kind="user", id="504", label="viewer@example.org", roles=("viewer",),
               permissions=permissions_for_roles(["viewer"]))

TERMS = {"subject": "AI analysis of radiographs", "data_categories": ["DICOM images"],
         "data_subjects": ["patients, including minors"], "deletion_terms": "delete at the end of service",
         "breach_notification_hours": 24, "security_certificate": "ISO 27001",
         "clauses": {k: f"Clause on {k}." for k in CLAUSE_KEYS}}


def _draft(session, clock, world, **overrides):
    terms = {**TERMS, **overrides}
    return agreements.create_agreement(
        session, actor=DRAFTER, clock=clock, reference=f"VWO-T-{world.hospital.id}-2",
        controller_id=world.hospital.id, processor_id=world.operator.id, purposes=["clinical-care"],
        effective_on=date(2026, 6, 1), ends_on=None, **terms)


def _outcome(session, world, clock, engine, key):
    decision = decisions.decide(session, actor=world.actor, clock=clock, engine=engine,
                                request=child_hand(world.tool.slug, key)).decision
    return decision.outcome, [r["code"] for r in decision.reasons]


def test_a_draft_walks_to_signature_with_four_eyes(app, session, clock, test_ca):
    world = make_world(session, clock)
    dpa = _draft(session, clock, world)
    assert dpa.status == "draft" and dpa.drafted_by == DRAFTER.ref
    agreements.transition_agreement(session, actor=DRAFTER, clock=clock, agreement_id=dpa.id, to="in_review")
    with pytest.raises(ValidationFailed) as refused:  # the drafter cannot approve
        agreements.transition_agreement(session, actor=DRAFTER, clock=clock, agreement_id=dpa.id, to="approved")
    assert "cannot approve" in refused.value.fields["to"]
    with pytest.raises(ValidationFailed) as refused:  # nor an administrator who is not legal
        agreements.transition_agreement(session, actor=ADMIN, clock=clock, agreement_id=dpa.id, to="approved")
    assert "legal" in refused.value.fields["to"]
    agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=dpa.id, to="approved")
    assert dpa.status == "approved" and dpa.approved_by == REVIEWER.ref
    assert dpa.approved_terms_hash == agreements.current_terms_hash(session, dpa)
    with pytest.raises(ValidationFailed) as refused:  # signed only with both parties' signatures
        agreements.transition_agreement(session, actor=DRAFTER, clock=clock, agreement_id=dpa.id, to="signed",
                                        signed_on=date(2026, 5, 30))
    assert "controller and the processor" in refused.value.fields["signatures"]
    upload_signed(app, session, clock, DRAFTER, dpa, test_ca)  # the upload completing them signs
    assert (dpa.status, dpa.signed_on, dpa.effective_on) == ("signed", date(2026, 5, 31), date(2026, 6, 1))
    actions = [r.action for r in session.scalars(select(ChangeRecord).where(
        ChangeRecord.object_type == "data_processing_agreements", ChangeRecord.object_id == str(dpa.id))
        .order_by(ChangeRecord.id))]
    assert actions == ["create", "submit_for_review", "approve", "sign"]


def test_whoever_last_changed_the_terms_cannot_approve_them(session, clock):
    world = make_world(session, clock)
    dpa = _draft(session, clock, world)
    agreements.transition_agreement(session, actor=DRAFTER, clock=clock, agreement_id=dpa.id, to="in_review")
    agreements.update_agreement(session, actor=REVIEWER, clock=clock, agreement_id=dpa.id,
                                changes={"subject": "AI analysis of hand radiographs"})
    with pytest.raises(ValidationFailed):
        agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=dpa.id, to="approved")
    # The drafter did not make the last change, but drafted: still refused. A third reviewer may.
    with pytest.raises(ValidationFailed):
        agreements.transition_agreement(session, actor=DRAFTER, clock=clock, agreement_id=dpa.id, to="approved")
    third = Actor(kind="user", id="505", roles=("legal",), permissions=permissions_for_roles(["legal"]))
    agreements.transition_agreement(session, actor=third, clock=clock, agreement_id=dpa.id, to="approved")


def test_approval_is_refused_while_an_art28_element_is_missing(session, clock):
    world = make_world(session, clock)
    dpa = _draft(session, clock, world, clauses={k: "x" for k in CLAUSE_KEYS if k != "audits"})
    agreements.transition_agreement(session, actor=DRAFTER, clock=clock, agreement_id=dpa.id, to="in_review")
    with pytest.raises(ValidationFailed) as refused:
        agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=dpa.id, to="approved")
    assert "audits" in refused.value.fields["checklist"]
    assert dpa.status == "in_review"


def test_an_illegal_transition_is_refused_naming_the_allowed_ones(session, clock):
    world = make_world(session, clock)
    dpa = _draft(session, clock, world)
    with pytest.raises(ValidationFailed) as refused:
        agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=dpa.id, to="signed",
                                        signed_on=date(2026, 5, 1))
    assert "in_review" in refused.value.detail and dpa.status == "draft"
    with pytest.raises(PermissionDenied):  # a viewer may not even ask
        agreements.transition_agreement(session, actor=VIEWER, clock=clock, agreement_id=dpa.id, to="in_review")


def test_termination_suspension_and_expiry_deny_the_next_decision(session, clock, policy_engine):
    world = make_world(session, clock)
    assert _outcome(session, world, clock, policy_engine, "s1")[0] == "permit"
    agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    to="suspended", note="breach under investigation")
    assert _outcome(session, world, clock, policy_engine, "s2") == ("deny", ["AGREEMENT_NOT_SIGNED"])
    agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    to="signed", note="investigation closed")
    assert _outcome(session, world, clock, policy_engine, "s3")[0] == "permit"
    agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    to="terminated", note="end of service", terminated_on=date(2026, 6, 1),
                                    deletion_due_on=date(2026, 7, 1))
    assert world.agreement.deletion_due_on == date(2026, 7, 1)
    assert _outcome(session, world, clock, policy_engine, "s4") == ("deny", ["AGREEMENT_NOT_SIGNED"])


def test_expiry_comes_from_the_end_date(session, clock, policy_engine):
    today = date(2026, 6, 1)
    world = make_world(session, clock, agreement_term=(date(2026, 1, 1), today))
    assert _outcome(session, world, clock, policy_engine, "e1")[0] == "permit"  # the last day is in
    expired = make_world(session, clock, agreement_term=(date(2026, 1, 1), today - timedelta(days=1)))
    assert _outcome(session, expired, clock, policy_engine, "e2") == ("deny", ["AGREEMENT_NOT_IN_FORCE"])


def test_changing_signed_terms_sends_the_agreement_back_to_review(session, clock, policy_engine):
    world = make_world(session, clock)
    agreements.update_agreement(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                changes={"purposes": ["clinical-care", "research"]})
    assert world.agreement.status == "in_review" and world.agreement.terms_changed_by == REVIEWER.ref
    assert _outcome(session, world, clock, policy_engine, "c1") == ("deny", ["AGREEMENT_NOT_SIGNED"])
    with pytest.raises(ValidationFailed):  # status moves only through the machine
        agreements.update_agreement(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    changes={"status": "signed"})


def test_a_subprocessor_needs_a_recorded_approval_and_its_removal_is_kept(session, clock, policy_engine):
    world = make_world(session, clock)
    before = len(list(session.scalars(select(SubProcessor))))
    with pytest.raises(ValidationFailed) as refused:
        agreements.add_subprocessor(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    name="Hosting BV")
    assert {"approved_on", "approval_reference"} <= set(refused.value.fields)
    assert len(list(session.scalars(select(SubProcessor)))) == before
    vendor_row = session.scalar(select(SubProcessor).where(SubProcessor.agreement_id == world.agreement.id))
    agreements.remove_subprocessor(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                   subprocessor_id=vendor_row.id, last_day=date(2026, 5, 31), note="left")
    # From the day after, the vendor is an unapproved processor in the chain: routing denies.
    assert _outcome(session, world, clock, policy_engine, "p1") == ("deny", ["SUBPROCESSOR_NOT_APPROVED"])
    assert session.get(SubProcessor, vendor_row.id).withdrawn_on == date(2026, 5, 31)  # kept, not deleted
    with pytest.raises(ValidationFailed):  # the name stays taken by its history
        agreements.add_subprocessor(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    organisation_id=world.vendor.id, approved_on=date(2026, 6, 1),
                                    approval_reference="letter")


def test_the_journal_is_apart_from_the_change_log(session, clock):
    world = make_world(session, clock)
    agreements.add_agreement_note(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                  note="Security annex checked against the ISO certificate.")
    notes = agreements.journal(session, actor=VIEWER, agreement_id=world.agreement.id)
    assert [(n.author, n.author_label) for n in notes] == [(REVIEWER.ref, REVIEWER.label)]
    with pytest.raises(ValidationFailed):
        agreements.add_agreement_note(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                      note="   ")


def test_deletion_or_return_is_an_open_item_until_recorded(session, clock):
    from registry.services.attention import needs_attention

    world = make_world(session, clock)
    agreements.transition_agreement(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                    to="terminated", note="end of service", terminated_on=date(2026, 5, 1),
                                    deletion_due_on=date(2026, 5, 31))
    assert world.agreement in needs_attention(session, actor=VIEWER, clock=clock).deletions_due
    with pytest.raises(ValidationFailed):
        agreements.record_deletion(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                                   done_on=date(2026, 5, 20), evidence=" ")
    agreements.record_deletion(session, actor=REVIEWER, clock=clock, agreement_id=world.agreement.id,
                               done_on=date(2026, 5, 20), evidence="certificate of deletion no. 7")
    assert world.agreement not in needs_attention(session, actor=VIEWER, clock=clock).deletions_due


def test_the_processors_security_certificate_expiring_is_an_alert(session, clock):
    from registry.services.attention import needs_attention

    world = make_world(session, clock)
    world.agreement.security_certificate_expires_on = date(2026, 6, 20)
    session.flush()
    endings = needs_attention(session, actor=VIEWER, clock=clock).endings
    assert any(e.kind == "agreement_certificates" and e.row is world.agreement and e.days_left == 19 for e in endings)
