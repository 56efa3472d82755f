"""The staff API of the legal workspace: an agreement is born a draft and walks its lifecycle through
``/api/v1/agreements``, with four eyes, the Art. 28(3) checklist, both parties' PAdES signatures
uploaded as a PDF, and sub-processors with approval."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from registry.db.agreements import DataProcessingAgreement
from registry.db.organisations import Organisation
from registry.db.users import User
from registry.domain.agreements import CLAUSE_KEYS
from registry.services import api_tokens
from registry.services.users import create_user
from tests.factories import SYSTEM
from tests.pades import sign_pdf

COMPLETE = {"subject": "AI analysis of radiographs", "data_categories": ["DICOM images"],
            "data_subjects": ["patients"], "deletion_terms": "delete at the end of service",
            "breach_notification_hours": 24, "security_certificate": "ISO 27001",
            "effective_on": "2026-06-01", "clauses": {k: f"Clause on {k}." for k in CLAUSE_KEYS}}


def _token(session, clock, email: str) -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user, _ = create_user(session, actor=SYSTEM, clock=clock, email=email, roles=["legal"],
                              password="second reviewer pw")
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="t")
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def _parties(session) -> tuple[int, int, int]:  # noqa: ANN001
    org = {o.name: o.id for o in session.scalars(select(Organisation))}
    return org["Demo Ziekenhuis Noord"], org["Alphatron Zorgverbinders"], org["Radiobotics"]


def test_an_agreement_is_born_a_draft_and_walks_to_signature(client, session, clock, test_ca):
    drafter, reviewer = _token(session, clock, "jurist@demo.aifi.nl"), _token(session, clock, "jurist2@demo.aifi.nl")
    hospital, operator, vendor = _parties(session)
    before = session.scalar(select(func.count()).select_from(DataProcessingAgreement))
    refused = client.post("/api/v1/agreements", headers=drafter, json={
        "reference": "VWO-API-1", "controller_id": hospital, "processor_id": operator,
        "purposes": ["clinical-care"], "status": "signed"})
    assert refused.status_code == 400 and "status" in refused.get_json()["error"]["fields"]
    assert session.scalar(select(func.count()).select_from(DataProcessingAgreement)) == before

    created = client.post("/api/v1/agreements", headers=drafter, json={
        "reference": "VWO-API-1", "controller_id": hospital, "processor_id": operator,
        "purposes": ["clinical-care"], **{k: v for k, v in COMPLETE.items() if k != "clauses"}})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    key = body["id"]
    assert body["status"] == "draft" and body["allowed_transitions"] == ["in_review"]
    missing = {i["key"] for i in body["checklist"] if not i["present"]}
    assert missing == {"instructions", "confidentiality", "subprocessors", "data_subject_rights",
                       "assistance_breach", "audits"}

    def move(headers, **payload):  # noqa: ANN001, ANN202
        return client.post(f"/api/v1/agreements/{key}/transitions", headers=headers, json=payload)

    wrong = move(drafter, to="signed", signed_on="2026-05-30")
    assert wrong.status_code == 400 and "in_review" in wrong.get_json()["error"]["detail"]
    assert move(drafter, to="in_review").status_code == 200
    incomplete = move(reviewer, to="approved")
    assert incomplete.status_code == 400 and "audits" in incomplete.get_json()["error"]["fields"]["checklist"]
    patched = client.patch(f"/api/v1/agreements/{key}", headers=drafter, json={"clauses": COMPLETE["clauses"]})
    assert patched.status_code == 200 and all(i["present"] for i in patched.get_json()["checklist"])
    assert move(drafter, to="approved").get_json()["error"]["fields"]["to"].startswith("whoever drafted")
    approved = move(reviewer, to="approved", note="complete; security annex checked")
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    unsigned = move(drafter, to="signed", signed_on="2026-05-30")
    assert unsigned.status_code == 400 and "signatures" in unsigned.get_json()["error"]["fields"]
    # Each party signs the generated PDF in its own tools; the processor's certificate names it by
    # its KvK number (organizationIdentifier), the hospital's by its name.
    pdf = client.get(f"/api/v1/agreements/{key}/document.pdf", headers=drafter).data
    pdf = sign_pdf(sign_pdf(pdf, test_ca.issue("Demo Ziekenhuis Noord", person="A. Bestuurder")),
                   test_ca.issue("Alphatron B.V.", organisation_identifier="NTRNL-17999001"))
    uploaded = client.post(f"/api/v1/agreements/{key}/documents", headers=drafter, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(pdf), "getekend.pdf")})
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["status"] == "signed"
    assert [(s["party"], s["valid"], s["counts"]) for s in uploaded.get_json()["signatures"]] == [
        ("controller", True, True), ("processor", True, True)]
    signed = client.get(f"/api/v1/agreements/{key}", headers=drafter).get_json()
    assert (signed["status"], signed["signed_on"], signed["standing"]) == ("signed", "2026-05-31", "in_force")
    assert signed["signed_by"] == ["controller", "processor"]
    assert signed["signatures"][0]["signer_name"] == "A. Bestuurder" and signed["signatures"][0]["version"] == 1

    # Sub-processors: only with a recorded approval; a removal stays in the list.
    no_approval = client.post(f"/api/v1/agreements/{key}/subprocessors/{vendor}", headers=drafter, json={})
    assert no_approval.status_code == 400
    added = client.post(f"/api/v1/agreements/{key}/subprocessors/{vendor}", headers=drafter,
                        json={"approved_on": "2026-05-30", "approval_reference": "letter of 30 May", "role": "AI"})
    assert added.status_code == 201
    removed = client.delete(f"/api/v1/agreements/{key}/subprocessors/{vendor}", headers=drafter)
    assert removed.status_code == 200
    [sp] = [s for s in removed.get_json()["subprocessors"] if s["organisation_id"] == vendor]
    assert sp["withdrawn_on"] == "2026-06-01" and sp["approval_reference"] == "letter of 30 May"
    assert client.delete(f"/api/v1/agreements/{key}/subprocessors/{vendor}", headers=drafter).status_code == 404

    note = client.post(f"/api/v1/agreements/{key}/notes", headers=reviewer, json={"note": "Looked fine."})
    assert note.status_code == 201 and note.get_json()["author_label"] == "jurist2@demo.aifi.nl"

    # Changing signed terms sends it back to review.
    reopened = client.patch(f"/api/v1/agreements/{key}", headers=reviewer, json={"ends_on": "2027-05-31"})
    assert reopened.get_json()["status"] == "in_review"
    ended = move(reviewer, to="terminated", note="x", terminated_on="2026-06-01", deletion_due_on="2026-07-01")
    assert ended.status_code == 400 and "in_review" in ended.get_json()["error"]["fields"]["to"]


def test_malformed_transitions_change_nothing(client, session, clock):
    headers = _token(session, clock, "jurist@demo.aifi.nl")
    key = session.scalar(select(DataProcessingAgreement.id).where(DataProcessingAgreement.status == "signed"))
    for payload in ({"to": "expired"}, {"to": "terminated", "terminated_on": "yesterday"}, {"note": "x"},
                    {"to": "suspended", "note": "x", "extra": 1}):
        response = client.post(f"/api/v1/agreements/{key}/transitions", headers=headers, json=payload)
        assert response.status_code == 400, payload
    assert session.get(DataProcessingAgreement, key).status == "signed"
