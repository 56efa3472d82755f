"""The legal workspace in the browser's terms (forms, CSRF, Dutch): draft an agreement, see its
Art. 28(3) checklist, approve Demo Ziekenhuis Noord's agreement as another person than its drafter,
upload both parties' signed PDFs (and one by an unknown CA, shown invalid), keep a journal, add a sub-processor only with an approval."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from registry.db.agreements import AgreementNote, DataProcessingAgreement, SubProcessor
from registry.db.organisations import Organisation
from tests.pades import TestCA, sign_as
from tests.web.helpers import csrf_token, login


def _post(client, path: str, data: dict):  # noqa: ANN001, ANN202
    page = client.get(path)
    assert page.status_code == 200, path
    return client.post(path, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def _noord(session) -> DataProcessingAgreement:  # noqa: ANN001
    noord = session.scalar(select(Organisation).where(Organisation.name == "Demo Ziekenhuis Noord"))
    return session.scalar(select(DataProcessingAgreement).where(DataProcessingAgreement.controller_id == noord.id,
                                                                DataProcessingAgreement.status == "in_review"))


def _noord_cells(app, session) -> dict[str, str]:  # noqa: ANN001
    """Demo Ziekenhuis Noord's row of the routing matrix today: tool → permit or deny."""
    from datetime import date

    from registry.services.matrix import routing_matrix
    from tests.factories import SYSTEM

    matrix = routing_matrix(session, actor=SYSTEM, engine=app.extensions["registry"].policy, on=date(2026, 6, 1),
                            purpose="clinical-care")
    return {c.tool.slug: c.decision for h, row in matrix.rows if h.name == "Demo Ziekenhuis Noord" for c in row}


def _upload(client, dpa, content: bytes):  # noqa: ANN001, ANN202
    form = client.get(f"/agreements/{dpa.id}/documents")
    return client.post(f"/agreements/{dpa.id}/documents", content_type="multipart/form-data", data={
        "file": (io.BytesIO(content), "getekend.pdf"), "csrf_token": csrf_token(form.get_data(as_text=True))})


def test_a_legal_reviewer_approves_noords_agreement_and_records_the_signatures(app, client, session, test_ca):
    login(client, "jurist@demo.aifi.nl")
    dpa = _noord(session)
    assert set(_noord_cells(app, session).values()) == {"deny"}
    page = client.get(f"/agreements/{dpa.id}").get_data(as_text=True)
    assert "Controlelijst AVG art. 28, lid 3" in page and "ontbreekt" not in page
    assert "Goedkeuren" in page  # the transitions the machine allows from in_review
    approved = _post(client, f"/agreements/{dpa.id}/transition?to=approved", {"to": "approved", "note": "compleet"})
    assert approved.status_code == 302, approved.get_data(as_text=True)[-2000:]
    session.refresh(dpa)
    assert dpa.status == "approved" and dpa.approved_by.startswith("user:")
    unsigned = _post(client, f"/agreements/{dpa.id}/transition?to=signed",
                     {"to": "signed", "signed_on": "2026-05-29", "effective_on": "2026-06-01"})
    assert unsigned.status_code == 400 and "no valid signature" in unsigned.get_data(as_text=True)
    # The parties sign the generated PDF in their own tools and upload it: first an unknown CA's
    # signature (kept, shown as invalid with the reason), then the hospital's, then both.
    pdf = client.get(f"/agreements/{dpa.id}/document.pdf").data
    stranger = sign_as(TestCA("Unknown Test CA"), session, dpa, pdf, "controller")
    by_hospital = sign_as(test_ca, session, dpa, pdf, "controller")
    for content in (stranger, by_hospital, sign_as(test_ca, session, dpa, by_hospital, "processor")):
        assert _upload(client, dpa, content).status_code == 302
    session.refresh(dpa)
    assert (dpa.status, str(dpa.signed_on)) == ("signed", "2026-05-31")
    page = client.get(f"/agreements/{dpa.id}").get_data(as_text=True)
    assert "van kracht" in page and "Handtekeningen" in page
    assert "het certificaat is niet afkomstig van een vertrouwde certificeringsdienstverlener" in page
    assert page.count(">geldig</span>") == 3 and page.count(">ongeldig</span>") == 1
    assert "Signatory of the processor" in page
    # The matrix cells of Noord turn green on the very next evaluation.
    assert set(_noord_cells(app, session).values()) == {"permit"}


def test_a_draft_from_the_form_cannot_be_approved_by_its_drafter(client, session):
    login(client, "jurist@demo.aifi.nl")
    org = {o.name: o.id for o in session.scalars(select(Organisation))}
    missing = _post(client, "/agreements/new", {"reference": "", "controller_id": org["Demo Ziekenhuis Oost"],
                                                "processor_id": org["Alphatron Zorgverbinders"]})
    assert missing.status_code == 400 and "Er is een probleem" in missing.get_data(as_text=True)
    created = _post(client, "/agreements/new", {
        "reference": "VWO-UI-1", "controller_id": org["Demo Ziekenhuis Oost"],
        "processor_id": org["Alphatron Zorgverbinders"], "purposes": ["clinical-care"],
        "subject": "AI-analyse van röntgenfoto's", "data_categories": "DICOM-beelden\nleeftijd",
        "data_subjects": "patiënten", "effective_on": "2026-07-01"})
    assert created.status_code == 302
    dpa = session.scalar(select(DataProcessingAgreement).where(DataProcessingAgreement.reference == "VWO-UI-1"))
    assert dpa.status == "draft" and dpa.data_categories == ["DICOM-beelden", "leeftijd"]
    page = client.get(f"/agreements/{dpa.id}").get_data(as_text=True)
    assert page.count("ontbreekt") == 8  # the clause elements, the security measures and deletion terms
    assert _post(client, f"/agreements/{dpa.id}/transition?to=in_review", {"to": "in_review"}).status_code == 302
    refused = _post(client, f"/agreements/{dpa.id}/transition?to=approved", {"to": "approved"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "cannot approve" in html and "missing Art. 28(3) elements" in html
    session.refresh(dpa)
    assert dpa.status == "in_review"


def test_journal_and_subprocessor_forms(client, session):
    login(client, "jurist@demo.aifi.nl")
    dpa = _noord(session)
    empty = _post(client, f"/agreements/{dpa.id}/journal", {"note": ""})
    assert empty.status_code == 400
    assert _post(client, f"/agreements/{dpa.id}/journal", {"note": "Beveiligingsbijlage gecontroleerd."}
                 ).status_code == 302
    note = session.scalar(select(AgreementNote).where(AgreementNote.agreement_id == dpa.id))
    assert note.author_label == "jurist@demo.aifi.nl"
    assert "Beveiligingsbijlage gecontroleerd." in client.get(f"/agreements/{dpa.id}").get_data(as_text=True)
    operator = session.scalar(select(Organisation).where(Organisation.name == "Alphatron Zorgverbinders"))
    before = len(list(session.scalars(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id))))
    refused = _post(client, f"/agreements/{dpa.id}/subprocessors", {"organisation_id": operator.id})
    assert refused.status_code == 400 and re.search(r"Art\. 28\(2\)", refused.get_data(as_text=True))
    assert len(list(session.scalars(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id)))) == before
    added = _post(client, f"/agreements/{dpa.id}/subprocessors", {
        "organisation_id": operator.id, "role": "hosting", "approved_on": "2026-05-20",
        "approval_reference": "brief van 20 mei"})
    assert added.status_code == 302


def test_a_viewer_sees_the_agreement_but_no_forms(client, session):
    login(client, "lezer@demo.aifi.nl")
    dpa = _noord(session)
    page = client.get(f"/agreements/{dpa.id}").get_data(as_text=True)
    assert "Controlelijst" in page and "Goedkeuren" not in page
    assert client.get(f"/agreements/{dpa.id}/transition").status_code == 403
    assert client.get("/agreements/new").status_code == 403
