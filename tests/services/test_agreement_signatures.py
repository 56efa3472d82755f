"""PAdES signatures on uploaded agreements, validated with pyHanko against the test CA: both parties'
valid signatures over the current terms sign an approved agreement (and the next decision permits);
one party alone, an unknown CA, a PDF altered after signing, a signer who is neither party and
signatures over terms that have since changed never count. Every upload is kept all the same."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import object_session

from registry.actor import Actor
from registry.db.agreements import AgreementDocument, AgreementSignature
from registry.db.changes import ChangeRecord
from registry.domain.agreements import CLAUSE_KEYS
from registry.permissions import permissions_for_roles
from registry.services import agreements, decisions
from registry.services.errors import ValidationFailed
from tests.factories import child_hand, make_world
from tests.pades import TestCA, alter_after_signing, change_after_signing, generated_pdf, sign_as, sign_pdf

LEGAL = Actor(kind="user", id="601", label="jurist@example.org", roles=("legal",),
              permissions=permissions_for_roles(["legal"]))
OTHER_LEGAL = Actor(kind="user", id="602", label="second@example.org", roles=("legal",),
                    permissions=permissions_for_roles(["legal"]))


# Every Art. 28(3) element, so that legal may approve again after a change.
COMPLETE = {"subject": "AI analysis of radiographs", "data_categories": ["DICOM images"],
            "data_subjects": ["patients, including minors"], "deletion_terms": "delete at the end of service",
            "breach_notification_hours": 24, "security_certificate": "ISO 27001",
            "clauses": {k: f"Clause on {k}." for k in CLAUSE_KEYS}}


def _world(session, clock, status: str):
    world = make_world(session, clock, agreement_status=status)
    for key, value in COMPLETE.items():  # set up directly, as the seed may
        setattr(world.agreement, key, value)
    session.flush()
    return world


@pytest.fixture
def approved(session, clock):
    """A world whose agreement legal has approved and nobody has signed yet."""
    return _world(session, clock, "approved")


def _upload(session, clock, world, content: bytes, ca: TestCA | None, name: str = "signed.pdf"):
    return agreements.upload_agreement_document(
        session, actor=LEGAL, clock=clock, agreement_id=world.agreement.id, filename=name, content=content,
        trust_anchors=(ca.der,) if ca else ())


def _signed_by(ca: TestCA, world, pdf: bytes, *parties: str) -> bytes:
    return sign_as(ca, object_session(world.agreement), world.agreement, pdf, *parties)


def _signatures(session, document) -> list[AgreementSignature]:
    return list(session.scalars(select(AgreementSignature).where(AgreementSignature.document_id == document.id)
                                .order_by(AgreementSignature.id)))


def _outcome(session, world, clock, engine, key):
    decision = decisions.decide(session, actor=world.actor, clock=clock, engine=engine,
                                request=child_hand(world.tool.slug, key)).decision
    return decision.outcome, [r["code"] for r in decision.reasons]


def test_both_parties_valid_signatures_sign_the_agreement_and_the_next_decision_permits(
        app, session, clock, policy_engine, test_ca, approved):
    world = approved
    assert _outcome(session, world, clock, policy_engine, "sig-1") == ("deny", ["AGREEMENT_NOT_SIGNED"])
    pdf = generated_pdf(app, session, world.agreement.id)
    by_controller = _signed_by(test_ca, world, pdf, "controller")
    first = _upload(session, clock, world, by_controller, test_ca, "hospital.pdf")
    [sig] = _signatures(session, first)
    assert (sig.valid, sig.problem, sig.party, sig.organisation_id) == (True, None, "controller", world.hospital.id)
    assert sig.terms_hash == agreements.current_terms_hash(session, world.agreement)
    assert sig.signing_time == datetime(2026, 5, 31, 9, 0, tzinfo=timezone.utc)
    assert sig.signer_name == "Signatory of the controller"
    assert world.agreement.status == "approved"  # one party is not enough
    assert _outcome(session, world, clock, policy_engine, "sig-2")[0] == "deny"

    both = sign_pdf(by_controller, test_ca.issue(world.operator.name))
    second = _upload(session, clock, world, both, test_ca, "both.pdf")
    assert [(s.party, s.valid) for s in _signatures(session, second)] == [("controller", True), ("processor", True)]
    assert (world.agreement.status, world.agreement.signed_on) == ("signed", date(2026, 5, 31))
    assert _outcome(session, world, clock, policy_engine, "sig-3")[0] == "permit"
    actions = [r.action for r in session.scalars(select(ChangeRecord).where(
        ChangeRecord.object_type == "data_processing_agreements",
        ChangeRecord.object_id == str(world.agreement.id)).order_by(ChangeRecord.id))]
    assert actions[-1] == "sign"


def test_one_party_alone_is_not_signed_and_the_transition_says_who_is_missing(app, session, clock, test_ca,
                                                                           approved):
    world = approved
    pdf = generated_pdf(app, session, world.agreement.id)
    _upload(session, clock, world, _signed_by(test_ca, world, pdf, "processor"), test_ca)
    with pytest.raises(ValidationFailed) as refused:
        agreements.transition_agreement(session, actor=LEGAL, clock=clock, agreement_id=world.agreement.id,
                                        to="signed", signed_on=date(2026, 5, 31))
    assert "controller" in refused.value.fields["signatures"]
    assert "processor" not in refused.value.fields["signatures"]
    assert world.agreement.status == "approved"


def test_signatures_by_an_unknown_ca_are_kept_as_invalid_and_never_count(app, session, clock, test_ca, approved):
    world = approved
    stranger = TestCA("Unknown Test CA (not trusted)")
    pdf = _signed_by(stranger, world, generated_pdf(app, session, world.agreement.id), "controller", "processor")
    document = _upload(session, clock, world, pdf, test_ca)
    signatures = _signatures(session, document)
    assert [(s.valid, s.problem, s.party) for s in signatures] == [(False, "untrusted", "controller"),
                                                                 (False, "untrusted", "processor")]
    assert "Unknown Test CA" in signatures[0].detail
    assert world.agreement.status == "approved"
    assert session.get(AgreementDocument, document.id).size == len(pdf)  # the upload is kept


def test_each_party_may_upload_its_own_signed_copy(app, session, clock, test_ca, approved):
    world = approved
    pdf = generated_pdf(app, session, world.agreement.id)
    _upload(session, clock, world, _signed_by(test_ca, world, pdf, "processor"), test_ca, "operator.pdf")
    _upload(session, clock, world, _signed_by(test_ca, world, pdf, "controller"), test_ca, "hospital.pdf")
    assert world.agreement.status == "signed"


def test_an_expired_certificate_and_an_impossible_signing_time_are_invalid(app, session, clock, test_ca, approved):
    world = approved
    pdf = generated_pdf(app, session, world.agreement.id)
    expired = test_ca.issue(world.hospital.name, not_after=datetime(2026, 5, 1, tzinfo=timezone.utc))
    future = test_ca.issue(world.operator.name)
    signed = sign_pdf(sign_pdf(pdf, expired, at=datetime(2026, 4, 30, tzinfo=timezone.utc)), future,
                      at=datetime(2026, 6, 2, tzinfo=timezone.utc))  # the day after the upload
    document = _upload(session, clock, world, signed, test_ca)
    assert [(s.party, s.problem) for s in _signatures(session, document)] == [("controller", "certificate"),
                                                                              ("processor", "signing_time")]
    assert world.agreement.status == "approved"


def test_without_trust_anchors_no_signature_is_trusted(app, session, clock, test_ca, approved):
    world = approved
    pdf = _signed_by(test_ca, world, generated_pdf(app, session, world.agreement.id), "controller", "processor")
    document = _upload(session, clock, world, pdf, None)
    assert {s.problem for s in _signatures(session, document)} == {"untrusted"}
    assert world.agreement.status == "approved"


@pytest.mark.parametrize("tamper", [alter_after_signing, change_after_signing], ids=["bytes", "incremental"])
def test_a_pdf_altered_after_signing_is_invalid(app, session, clock, test_ca, approved, tamper):
    world = approved
    signed = _signed_by(test_ca, world, generated_pdf(app, session, world.agreement.id), "controller", "processor")
    document = _upload(session, clock, world, tamper(signed), test_ca)
    signatures = _signatures(session, document)
    assert signatures and {s.problem for s in signatures} == {"altered"}
    assert not any(s.valid for s in signatures)
    assert world.agreement.status == "approved"


def test_a_signer_of_neither_party_does_not_count(app, session, clock, test_ca, approved):
    world = approved
    pdf = generated_pdf(app, session, world.agreement.id)
    pdf = sign_pdf(sign_pdf(pdf, test_ca.issue(world.hospital.name)), test_ca.issue("Some Other Company BV"))
    document = _upload(session, clock, world, pdf, test_ca)
    assert [(s.valid, s.party) for s in _signatures(session, document)] == [(True, "controller"), (True, None)]
    assert world.agreement.status == "approved"


def test_signatures_over_old_terms_stop_counting_and_the_agreement_goes_back_to_review(
        app, session, clock, policy_engine, test_ca, approved):
    world = approved
    old_pdf = _signed_by(test_ca, world, generated_pdf(app, session, world.agreement.id), "controller", "processor")
    _upload(session, clock, world, old_pdf, test_ca)
    assert world.agreement.status == "signed"
    agreements.update_agreement(session, actor=LEGAL, clock=clock, agreement_id=world.agreement.id,
                                changes={"subject": "AI analysis of hand radiographs, second edition"})
    assert world.agreement.status == "in_review"
    assert _outcome(session, world, clock, policy_engine, "old-1") == ("deny", ["AGREEMENT_NOT_SIGNED"])
    listed = agreements.agreement_signatures(session, actor=LEGAL, agreement_id=world.agreement.id)
    assert len(listed) == 2 and not any(counted for _sig, counted in listed)  # still shown, no longer counted

    agreements.transition_agreement(session, actor=OTHER_LEGAL, clock=clock, agreement_id=world.agreement.id,
                                    to="approved", note="edition 2 checked")
    _upload(session, clock, world, old_pdf, test_ca, "old-again.pdf")  # the old signatures, once more
    assert world.agreement.status == "approved"
    with pytest.raises(ValidationFailed) as refused:
        agreements.transition_agreement(session, actor=LEGAL, clock=clock, agreement_id=world.agreement.id,
                                        to="signed")
    assert "controller and the processor" in refused.value.fields["signatures"]

    new_pdf = _signed_by(test_ca, world, generated_pdf(app, session, world.agreement.id), "controller", "processor")
    _upload(session, clock, world, new_pdf, test_ca, "edition-2.pdf")
    assert world.agreement.status == "signed"
    assert _outcome(session, world, clock, policy_engine, "old-2")[0] == "permit"


def test_the_sign_transition_takes_the_date_from_the_signatures_when_legal_approves_last(
        app, session, clock, test_ca):
    world = _world(session, clock, "in_review")
    pdf = _signed_by(test_ca, world, generated_pdf(app, session, world.agreement.id), "controller", "processor")
    _upload(session, clock, world, pdf, test_ca)
    assert world.agreement.status == "in_review"  # signatures never approve: that is legal's
    agreements.transition_agreement(session, actor=LEGAL, clock=clock, agreement_id=world.agreement.id,
                                    to="approved")
    agreements.transition_agreement(session, actor=LEGAL, clock=clock, agreement_id=world.agreement.id,
                                    to="signed")
    assert (world.agreement.status, world.agreement.signed_on) == ("signed", date(2026, 5, 31))


def test_an_unreadable_pdf_is_kept_with_the_reason(session, clock, test_ca, approved):
    document = _upload(session, clock, approved, b"%PDF-1.7 not really a PDF", test_ca)
    assert document.unreadable and _signatures(session, document) == []
