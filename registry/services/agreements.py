"""Data-processing agreements (verwerkersovereenkomsten, GDPR Art. 28): drafting, the lifecycle
(:mod:`registry.domain.agreements` decides), the reviewer's journal and the sub-processors.

Through the UI and the API an agreement is born a draft (:func:`create_agreement` without a
status) and moves only through :func:`transition_agreement`; the demo seed and the test factories
may create one in any state.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.agreements import (AgreementDocument, AgreementDocumentContent, AgreementNote,
                                    AgreementSignature, DataProcessingAgreement, SubProcessor)
from registry.db.consent import Purpose
from registry.db.organisations import Organisation
from registry.domain import agreements as machine
from registry.domain.agreements import AgreementState, Party, Request, SignatureFact, Status, TransitionRefused
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.scope import can_see, scope_of
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ValidationFailed

# What PATCH and the edit form may change: the terms (status and dates of signature or ending
# move only through the machine).
EDITABLE_TERMS = ("subject", "model", "purposes", "data_categories", "data_subjects",
                  "processing_locations", "transfer_mechanism", "retention", "deletion_terms",
                  "breach_notification_hours", "security_certificate", "security_certificate_expires_on",
                  "clauses", "effective_on", "ends_on")


def _validate_terms(session: Session, terms: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    if "controller_id" in terms:
        controller = session.get(Organisation, terms["controller_id"])
        if controller is None or controller.kind != "hospital":
            fields["controller_id"] = "the controller must be a hospital"
    if "processor_id" in terms and session.get(Organisation, terms["processor_id"]) is None:
        fields["processor_id"] = "unknown organisation"
    unknown = [p for p in terms.get("purposes") or [] if session.get(Purpose, p) is None]
    if unknown:
        fields["purposes"] = f"unknown purpose codes: {', '.join(unknown)}"
    if terms.get("effective_on") and terms.get("ends_on") and terms["ends_on"] < terms["effective_on"]:
        fields["ends_on"] = "ends before it takes effect"
    hours = terms.get("breach_notification_hours")
    if hours is not None and hours <= 0:
        fields["breach_notification_hours"] = "a positive number of hours"
    bad = sorted(set(terms.get("clauses") or {}) - set(machine.CLAUSE_KEYS))
    if bad:
        fields["clauses"] = f"unknown clauses: {', '.join(bad)}; known: {', '.join(machine.CLAUSE_KEYS)}"
    return fields


def create_agreement(session: Session, *, actor: Actor, clock: Clock, reference: str,
                     controller_id: int, processor_id: int, purposes: list[str],
                     effective_on: date | None = None, ends_on: date | None = None, status: str = Status.DRAFT,
                     signed_on: date | None = None, subprocessors: list[dict[str, Any]] = (),
                     **details: Any) -> DataProcessingAgreement:
    """Draft an agreement; whoever drafts it cannot approve it later (four eyes)."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    fields = _validate_terms(session, {"controller_id": controller_id, "processor_id": processor_id,
                                       "purposes": purposes, "effective_on": effective_on,
                                       "ends_on": ends_on, **details})
    if not reference.strip():
        fields["reference"] = "is required"
    if status == Status.SIGNED and not (signed_on and effective_on):
        fields["signed_on"] = "a signed agreement needs a signature date and an effective date"
    if fields:
        raise ValidationFailed("invalid data-processing agreement", fields)
    dpa = DataProcessingAgreement(reference=reference.strip(), controller_id=controller_id,
                                  processor_id=processor_id, purposes=list(purposes),
                                  effective_on=effective_on, ends_on=ends_on, status=status,
                                  signed_on=signed_on, drafted_by=actor.ref, **details)
    create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE, row=dpa)
    for sp in subprocessors:
        # Listed in the agreement itself: its annex is the controller's written authorisation.
        sp = dict(sp)
        if sp.get("approved_on") is not None:
            sp.setdefault("approval_reference", f"sub-processor annex of agreement {dpa.reference}")
        _insert_subprocessor(session, actor=actor, clock=clock, agreement=dpa, **sp)
    return dpa


def get_agreement(session: Session, *, actor: Actor, agreement_id: int) -> DataProcessingAgreement:
    """The agreement, if the actor may see it (otherwise it does not exist for them)."""
    dpa = session.get(DataProcessingAgreement, agreement_id)
    if dpa is None or not can_see(session, scope_of(session, actor), DataProcessingAgreement, dpa):
        raise NotFound(f"no agreement {agreement_id}")
    return dpa


def terms_of(dpa: DataProcessingAgreement) -> dict[str, Any]:
    return {k: getattr(dpa, k) for k in machine.TERMS_FIELDS}


def _subprocessor_terms(session: Session, agreement_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(SubProcessor).where(SubProcessor.agreement_id == agreement_id,
                                                      SubProcessor.withdrawn_on.is_(None)))
    return [{"name": s.name, "organisation_id": s.organisation_id, "role": s.role, "location": s.location}
            for s in rows]


def current_terms_hash(session: Session, dpa: DataProcessingAgreement) -> str:
    """SHA-256 of the agreement's canonical terms, with its current sub-processors."""
    return machine.terms_hash(terms_of(dpa), _subprocessor_terms(session, dpa.id))


def update_agreement(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                     changes: dict[str, Any]) -> DataProcessingAgreement:
    """Change the terms. Whoever does is their last editor (and cannot approve them); approved or
    signed terms that change go back to review, since the approval and signatures covered others."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    unknown = sorted(set(changes) - set(EDITABLE_TERMS))
    if unknown:
        raise ValidationFailed("these fields are not terms", {k: "cannot be changed here" for k in unknown})
    if dpa.status not in machine.EDITABLE:
        raise ValidationFailed(f"the terms of a {dpa.status} agreement cannot be changed",
                               {"status": f"editable while {', '.join(machine.EDITABLE)}"})
    for name in ("purposes", "data_categories", "data_subjects", "processing_locations"):
        if name in changes and changes[name] is None:
            changes = {**changes, name: []}  # a list term is emptied, never NULL
    merged = {**terms_of(dpa), **changes}
    fields = _validate_terms(session, {k: merged[k] for k in ("purposes", "effective_on", "ends_on",
                                                               "breach_notification_hours", "clauses")})
    if fields:
        raise ValidationFailed("invalid data-processing agreement", fields)
    really = {k: v for k, v in changes.items() if getattr(dpa, k) != v}
    if not really:
        return dpa
    really.update(terms_changed_by=actor.ref, terms_changed_at=clock.now())
    message = "terms changed"
    if dpa.status in machine.REOPENS_ON_EDIT:
        really.update(status=Status.IN_REVIEW, status_reason="terms changed after approval",
                      approved_by=None, approved_terms_hash=None)
        message = f"terms changed while {dpa.status}: back to review"
    return update_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                      row=dpa, changes=really, message=message)


def transition_agreement(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                         to: str, note: str = "", signed_on: date | None = None,
                         effective_on: date | None = None, ends_on: date | None = None,
                         terminated_on: date | None = None,
                         deletion_due_on: date | None = None) -> DataProcessingAgreement:
    """Move the agreement through its lifecycle (see :mod:`registry.domain.agreements`)."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    facts, current = _signature_facts(session, dpa), current_terms_hash(session, dpa)
    if to == Status.SIGNED and dpa.status == Status.APPROVED and signed_on is None:
        # Signed on the day both signatures over these terms were there (Europe/Amsterdam).
        moment = machine.signed_moment(facts, current)
        signed_on = term_date(moment) if moment is not None else None
    state = AgreementState(status=dpa.status, terms=terms_of(dpa), drafted_by=dpa.drafted_by,
                           terms_changed_by=dpa.terms_changed_by,
                           signed_by=machine.parties_signed(facts, current))
    request = Request(to=to, note=note, signed_on=signed_on, effective_on=effective_on, ends_on=ends_on,
                      terminated_on=terminated_on, deletion_due_on=deletion_due_on)
    try:
        action, changes = machine.plan_transition(state, request, actor_ref=actor.ref,
                                                  actor_roles=actor.roles, today=term_date(clock.now()))
    except TransitionRefused as exc:
        raise ValidationFailed(exc.detail, exc.fields) from None
    if to == Status.APPROVED:
        changes["approved_terms_hash"] = current
    dpa = update_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                     row=dpa, changes=changes, action=action, message=note.strip())
    if to == Status.TERMINATED:
        _announce_termination(session, clock=clock, dpa=dpa)
    return dpa


def _announce_termination(session: Session, *, clock: Clock, dpa: DataProcessingAgreement) -> None:
    """Push ``agreement.terminated`` to both parties' subscribers (and national ones), in this
    transaction: routing under the agreement stops on the next decision."""
    from registry.services.webhooks import enqueue

    enqueue(session, clock=clock, event="agreement.terminated",
            data={"agreement_id": dpa.id, "reference": dpa.reference, "controller_id": dpa.controller_id,
                  "processor_id": dpa.processor_id, "purposes": list(dpa.purposes),
                  "terminated_on": dpa.terminated_on.isoformat() if dpa.terminated_on else None,
                  "deletion_due_on": dpa.deletion_due_on.isoformat() if dpa.deletion_due_on else None,
                  "reason": dpa.status_reason},
            organisation_id=(dpa.controller_id, dpa.processor_id))


def record_deletion(session: Session, *, actor: Actor, clock: Clock, agreement_id: int, done_on: date,
                    evidence: str) -> DataProcessingAgreement:
    """Art. 28(3)(g): the processor deleted or returned the data; closes the open item."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    fields = {}
    if dpa.status != Status.TERMINATED:
        fields["status"] = "only a terminated agreement has data to delete or return"
    if not evidence.strip():
        fields["evidence"] = "say what shows it (a certificate of deletion, a return receipt)"
    if dpa.terminated_on and done_on < dpa.terminated_on:
        fields["done_on"] = "cannot be before the termination"
    if fields:
        raise ValidationFailed("cannot record deletion or return", fields)
    return update_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE, row=dpa,
                      changes={"deletion_done_on": done_on, "deletion_evidence": evidence.strip()},
                      action="deletion_recorded", message=evidence.strip())


def add_agreement_note(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                       note: str) -> AgreementNote:
    """A note in the reviewer's journal (apart from the automatic change log)."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    text = note.strip()
    if not text or len(text) > 4000:
        raise ValidationFailed("invalid note", {"note": "between 1 and 4000 characters"})
    return create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                      row=AgreementNote(agreement_id=dpa.id, author=actor.ref, author_label=actor.label,
                                        note=text, created_at=clock.now()))


def journal(session: Session, *, actor: Actor, agreement_id: int) -> list[AgreementNote]:
    actor.require(Permission.AGREEMENTS_READ)
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    return list(session.scalars(select(AgreementNote).where(AgreementNote.agreement_id == dpa.id)
                                .order_by(AgreementNote.created_at.desc(), AgreementNote.id.desc())))


def _insert_subprocessor(session: Session, *, actor: Actor, clock: Clock, agreement: DataProcessingAgreement,
                         name: str, organisation_id: int | None = None, role: str = "", location: str = "",
                         approved_on: date | None = None, approval_reference: str | None = None
                         ) -> SubProcessor:
    sp = SubProcessor(agreement_id=agreement.id, organisation_id=organisation_id, name=name, role=role,
                      location=location, approved_on=approved_on, approval_reference=approval_reference,
                      approved_by=actor.ref if approved_on else None)
    return create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE, row=sp)


def add_subprocessor(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                     organisation_id: int | None = None, name: str = "", role: str = "", location: str = "",
                     approved_on: date | None = None, approval_reference: str = "") -> SubProcessor:
    """Art. 28(2): a sub-processor only with the controller's prior written authorisation, which is
    recorded with it (when and where: a letter, an e-mail, minutes)."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    fields: dict[str, str] = {}
    org = session.get(Organisation, organisation_id) if organisation_id is not None else None
    if organisation_id is not None and org is None:
        fields["organisation_id"] = "unknown organisation"
    name = (name or (org.name if org else "")).strip()
    if not name:
        fields["name"] = "is required"
    if approved_on is None:
        fields["approved_on"] = "Art. 28(2): the controller's prior written authorisation is required"
    elif approved_on > term_date(clock.now()):
        fields["approved_on"] = "record an approval once it has been given"
    if not approval_reference.strip():
        fields["approval_reference"] = "say where the controller's authorisation is written down"
    if dpa.status == Status.TERMINATED:
        fields["agreement"] = "the agreement is terminated"
    current = session.scalar(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id,
                                                        SubProcessor.name == name))
    if current is not None:
        fields["name"] = "already listed (a removed one stays in the history under its name)"
    if fields:
        raise ValidationFailed("cannot add the sub-processor", fields)
    return _insert_subprocessor(session, actor=actor, clock=clock, agreement=dpa, name=name,
                                organisation_id=organisation_id, role=role.strip(),
                                location=(location or (org.country if org else "") or "").strip(),
                                approved_on=approved_on, approval_reference=approval_reference.strip())


def current_subprocessor(session: Session, *, actor: Actor, agreement_id: int,
                         organisation_id: int) -> SubProcessor:
    """The organisation's sub-processor row under the agreement that is still in the chain."""
    actor.require(Permission.AGREEMENTS_READ)
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    row = session.scalar(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id,
                                                    SubProcessor.organisation_id == organisation_id,
                                                    SubProcessor.withdrawn_on.is_(None)))
    if row is None:
        raise NotFound(f"organisation {organisation_id} is no current sub-processor under agreement {agreement_id}")
    return row


def remove_subprocessor(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                        subprocessor_id: int, last_day: date | None = None, note: str = "") -> SubProcessor:
    """Take a sub-processor out of the chain from the day after ``last_day`` (default today); the row
    stays, so the history shows who processed when."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    sp = session.get(SubProcessor, subprocessor_id)
    if sp is None or sp.agreement_id != dpa.id:
        raise NotFound(f"no sub-processor {subprocessor_id} under agreement {agreement_id}")
    if sp.withdrawn_on is not None:
        raise ValidationFailed("already removed", {"subprocessor": f"removed after {sp.withdrawn_on}"})
    return update_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE, row=sp,
                      changes={"withdrawn_on": last_day or term_date(clock.now())}, action="remove",
                      message=note.strip())


def document_data(session: Session, *, actor: Actor, agreement_id: int) -> dict[str, Any]:
    """Plain data for the generated agreement (never ORM rows in a template): the parties, the terms,
    the sub-processor and security annexes and the hash of the terms it prints."""
    actor.require(Permission.AGREEMENTS_READ)
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)

    def party(org_id: int) -> dict[str, Any]:
        org = session.get(Organisation, org_id)
        return {"name": org.name, "ura": org.ura, "kvk": org.kvk, "country": org.country}

    purposes = {p.code: p for p in session.scalars(select(Purpose))}
    subs = list(session.scalars(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id,
                                                           SubProcessor.withdrawn_on.is_(None))
                                .order_by(SubProcessor.name)))
    return {
        "reference": dpa.reference, "status": dpa.status, "model": dpa.model, "subject": dpa.subject,
        "controller": party(dpa.controller_id), "processor": party(dpa.processor_id),
        "purposes": [{"code": c, "en": purposes[c].label_en if c in purposes else c,
                      "nl": purposes[c].label_nl if c in purposes else c} for c in dpa.purposes],
        "data_categories": list(dpa.data_categories), "data_subjects": list(dpa.data_subjects),
        "processing_locations": list(dpa.processing_locations), "transfer_mechanism": dpa.transfer_mechanism,
        "retention": dpa.retention, "deletion_terms": dpa.deletion_terms,
        "breach_notification_hours": dpa.breach_notification_hours,
        "security_certificate": dpa.security_certificate,
        "security_certificate_expires_on": dpa.security_certificate_expires_on,
        "effective_on": dpa.effective_on, "ends_on": dpa.ends_on, "clauses": dict(dpa.clauses or {}),
        "subprocessors": [{"name": s.name, "role": s.role, "location": s.location, "approved_on": s.approved_on,
                           "approval_reference": s.approval_reference} for s in subs],
        "terms_hash": current_terms_hash(session, dpa), "illustrative": dpa.illustrative,
    }


# Signed copies: PDFs only (sniffed, not trusted from the file name or Content-Type), and bounded.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def upload_agreement_document(session: Session, *, actor: Actor, clock: Clock, agreement_id: int,
                              filename: str, content: bytes,
                              trust_anchors: Sequence[bytes] = ()) -> AgreementDocument:
    """Keep an uploaded (signed) PDF as the next version, by its SHA-256; versions are never
    overwritten. The change record describes the upload; the bytes are kept apart.

    Every PAdES signature in it is validated (:mod:`registry.pades`, against ``trust_anchors``) and
    recorded, valid or not with the reason: a PDF that fails is still kept, its signatures never
    count. When this upload completes the controller's and the processor's valid signatures over
    the current terms of an approved agreement, the agreement moves to signed (the machine's own
    transition, by the uploader)."""
    actor.require(Permission.AGREEMENTS_WRITE)  # first: an unauthorised caller learns nothing
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    if not content.startswith(b"%PDF-"):
        raise ValidationFailed("not a PDF", {"file": "upload the document as a PDF"})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed("file too large", {"file": f"at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB"})
    name = "".join(ch for ch in filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] if ch.isprintable())[:200]
    last = session.scalar(select(func.max(AgreementDocument.version)).where(AgreementDocument.agreement_id == dpa.id))
    document = create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                          row=AgreementDocument(agreement_id=dpa.id, version=(last or 0) + 1,
                                                filename=name or "document.pdf", size=len(content),
                                                sha256=hashlib.sha256(content).hexdigest(),
                                                uploaded_at=clock.now(), uploaded_by=actor.ref))
    session.add(AgreementDocumentContent(document_id=document.id, content=content))
    session.flush()
    _record_signatures(session, actor=actor, clock=clock, dpa=dpa, document=document, content=content,
                       trust_anchors=trust_anchors)
    if dpa.status == Status.APPROVED and machine.parties_signed(
            _signature_facts(session, dpa), current_terms_hash(session, dpa)) == frozenset(machine.PARTIES):
        try:
            transition_agreement(session, actor=actor, clock=clock, agreement_id=dpa.id, to=Status.SIGNED,
                                 note=f"signed by both parties (version {document.version})")
        except ValidationFailed:
            # E.g. no effective date in the terms: the signatures are recorded, and the signing
            # transition (with the date) is left to a person.
            pass
    return document


def _parties(session: Session, dpa: DataProcessingAgreement) -> list[Party]:
    controller, processor = session.get(Organisation, dpa.controller_id), session.get(Organisation, dpa.processor_id)
    return [Party("controller", controller.name, controller.kvk), Party("processor", processor.name, processor.kvk)]


def _record_signatures(session: Session, *, actor: Actor, clock: Clock, dpa: DataProcessingAgreement,
                       document: AgreementDocument, content: bytes, trust_anchors: Sequence[bytes]) -> None:
    from registry.pades import check_pdf

    check = check_pdf(content, trust_anchors=trust_anchors, moment=clock.now())
    if check.unreadable:
        document.unreadable = check.unreadable
        session.flush()
    parties = _parties(session, dpa)
    org_of = {"controller": dpa.controller_id, "processor": dpa.processor_id}
    for found in check.signatures:
        party = machine.signing_party(found.organisation_name, found.organisation_identifier, parties)
        create_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE,
                   row=AgreementSignature(
                       agreement_id=dpa.id, document_id=document.id, field_name=found.field_name[:200],
                       signer_name=found.signer_name, organisation_name=found.organisation_name,
                       organisation_identifier=found.organisation_identifier, subject=found.subject,
                       certificate_sha256=found.certificate_sha256, signing_time=found.signing_time,
                       party=party, organisation_id=org_of.get(party), terms_hash=found.printed_terms_hash,
                       valid=found.problem is None, problem=found.problem, detail=found.detail,
                       checked_at=clock.now()),
                   message=f"signature in version {document.version}: "
                           + ("valid" if found.problem is None else f"invalid ({found.problem})"))


def _signature_rows(session: Session, agreement_id: int) -> list[AgreementSignature]:
    return list(session.scalars(select(AgreementSignature).where(AgreementSignature.agreement_id == agreement_id)
                                .order_by(AgreementSignature.document_id.desc(), AgreementSignature.id)))


def _signature_facts(session: Session, dpa: DataProcessingAgreement) -> list[SignatureFact]:
    return [SignatureFact(party=s.party, valid=s.valid, terms_hash=s.terms_hash, signing_time=s.signing_time)
            for s in _signature_rows(session, dpa.id)]


def signature_rows_with_counts(session: Session, dpa: DataProcessingAgreement) -> list[tuple[AgreementSignature, bool]]:
    """Every recorded signature of an agreement the caller has already loaded (newest version
    first) and whether it counts for the current terms."""
    current = current_terms_hash(session, dpa)
    return [(s, machine.counts(SignatureFact(s.party, s.valid, s.terms_hash, s.signing_time), current))
            for s in _signature_rows(session, dpa.id)]


def agreement_signatures(session: Session, *, actor: Actor, agreement_id: int) -> list[tuple[AgreementSignature, bool]]:
    """Every recorded signature (newest version first) and whether it counts for the current terms."""
    actor.require(Permission.AGREEMENTS_READ)
    return signature_rows_with_counts(session, get_agreement(session, actor=actor, agreement_id=agreement_id))


def agreement_documents(session: Session, *, actor: Actor, agreement_id: int) -> list[AgreementDocument]:
    actor.require(Permission.AGREEMENTS_READ)
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    return list(session.scalars(select(AgreementDocument).where(AgreementDocument.agreement_id == dpa.id)
                                .order_by(AgreementDocument.version.desc())))


def agreement_document(session: Session, *, actor: Actor, agreement_id: int,
                       version: int) -> tuple[AgreementDocument, bytes]:
    """One version of an uploaded document and its bytes."""
    actor.require(Permission.AGREEMENTS_READ)
    dpa = get_agreement(session, actor=actor, agreement_id=agreement_id)
    document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == dpa.id,
                                                              AgreementDocument.version == version))
    if document is None:
        raise NotFound(f"no document version {version} of agreement {agreement_id}")
    return document, session.get(AgreementDocumentContent, document.id).content
