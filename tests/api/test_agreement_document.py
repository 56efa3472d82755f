"""The generated agreement: a PDF whose text holds the parties, the purposes, every sub-processor and
the SHA-256 of the current terms; Dutch by default, English on request; nothing loaded from outside.
With REGISTRY_SCREENSHOTS=1 it also writes the first page to docs/ (pdftoppm, Debian's poppler-utils)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from registry.db.agreements import DataProcessingAgreement, SubProcessor
from registry.db.organisations import Organisation
from registry.db.users import User
from registry.reports.pdf import FetchRefused, html_to_pdf
from registry.services import api_tokens
from tests.factories import SYSTEM

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _token(session, clock, email: str = "jurist@demo.aifi.nl") -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="t")
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _oost(session) -> DataProcessingAgreement:  # noqa: ANN001
    oost = session.scalar(select(Organisation.id).where(Organisation.name == "Demo Ziekenhuis Oost"))
    return session.scalar(select(DataProcessingAgreement).where(DataProcessingAgreement.controller_id == oost))


def test_the_generated_pdf_holds_parties_purposes_subprocessors_and_the_terms_hash(client, session, clock):
    headers = _token(session, clock)
    dpa = _oost(session)
    body = client.get(f"/api/v1/agreements/{dpa.id}", headers=headers).get_json()
    response = client.get(f"/api/v1/agreements/{dpa.id}/document.pdf", headers=headers)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    text = _text(response.data)
    flat = "".join(text.split())
    assert "Verwerkersovereenkomst" in text and "Verwerkingsverantwoordelijke" in text
    for name in ("Demo Ziekenhuis Oost", "Alphatron Zorgverbinders", "99000103"):
        assert name in text
    subs = list(session.scalars(select(SubProcessor).where(SubProcessor.agreement_id == dpa.id)))
    assert len(subs) == 3 and all(s.name in text for s in subs)
    assert "clinical-care" in text and "quality-assurance" in text
    assert body["terms_hash"] in flat
    if os.environ.get("REGISTRY_SCREENSHOTS") and shutil.which("pdftoppm"):
        pdf = DOCS / "agreement.pdf"
        pdf.write_bytes(response.data)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(DOCS / "screenshots" / "agreement-first-page")], check=True)
        pdf.unlink()

    english = _text(client.get(f"/api/v1/agreements/{dpa.id}/document.pdf?lang=en", headers=headers).data)
    assert "Data-processing agreement" in english and body["terms_hash"] in "".join(english.split())


def test_the_printed_hash_follows_the_terms(client, session, clock):
    headers = _token(session, clock)
    dpa = _oost(session)
    before = client.get(f"/api/v1/agreements/{dpa.id}", headers=headers).get_json()["terms_hash"]
    client.patch(f"/api/v1/agreements/{dpa.id}", headers=headers, json={"subject": "Another subject"})
    after = client.get(f"/api/v1/agreements/{dpa.id}", headers=headers).get_json()["terms_hash"]
    flat = "".join(_text(client.get(f"/api/v1/agreements/{dpa.id}/document.pdf", headers=headers).data).split())
    assert after != before and after in flat and before not in flat


def test_documents_load_nothing_from_outside():
    for html in ('<img src="http://127.0.0.1:9/logo.png">', '<link rel="stylesheet" href="file:///etc/passwd">',
                 '<style>@import url("https://example.org/x.css");</style>'):
        with pytest.raises(FetchRefused):
            html_to_pdf(html)


def test_the_web_page_offers_the_pdf(client, session):
    from tests.web.helpers import login

    login(client, "lezer@demo.aifi.nl")
    dpa = _oost(session)
    response = client.get(f"/agreements/{dpa.id}/document.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")


def test_signed_copies_are_kept_as_versions_with_their_sha256(client, session, clock):
    import hashlib

    from registry.db.agreements import AgreementDocument

    headers = _token(session, clock)
    dpa = _oost(session)
    generated = client.get(f"/api/v1/agreements/{dpa.id}/document.pdf", headers=headers).data
    signed = generated + b"\n% signed by the controller\n"

    def upload(content: bytes, name: str = "signed.pdf"):  # noqa: ANN202
        return client.post(f"/api/v1/agreements/{dpa.id}/documents", headers=headers,
                           data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")

    refused = upload(b"MZ\x90\x00 not a pdf", "signed.pdf")
    assert refused.status_code == 400 and "file" in refused.get_json()["error"]["fields"]
    assert session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == dpa.id)) is None
    first, second = upload(signed, "../../etc/VWO controller.pdf"), upload(generated, "processor.pdf")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["version"] == 1 and second.get_json()["version"] == 2
    assert first.get_json()["sha256"] == hashlib.sha256(signed).hexdigest()
    assert first.get_json()["filename"] == "VWO controller.pdf"  # no path from the client's side
    back = client.get(f"/api/v1/agreements/{dpa.id}/documents/1", headers=headers)
    assert back.status_code == 200 and back.data == signed  # version 1 not overwritten by version 2
    assert client.get(f"/api/v1/agreements/{dpa.id}/documents/3", headers=headers).status_code == 404
    page = client.get(f"/api/v1/agreements/{dpa.id}", headers=headers)
    assert page.status_code == 200


def test_the_page_lists_and_offers_the_signed_copies(client, session):
    from tests.web.helpers import csrf_token, login

    login(client, "jurist@demo.aifi.nl")
    dpa = _oost(session)
    form = client.get(f"/agreements/{dpa.id}/documents")
    response = client.post(f"/agreements/{dpa.id}/documents", content_type="multipart/form-data", data={
        "file": (io.BytesIO(b"%PDF-1.7 signed"), "getekend.pdf"), "csrf_token": csrf_token(form.get_data(as_text=True))})
    assert response.status_code == 302
    page = client.get(f"/agreements/{dpa.id}").get_data(as_text=True)
    assert "Ondertekende exemplaren" in page and "getekend.pdf" in page
    assert client.get(f"/agreements/{dpa.id}/documents/1.pdf").data == b"%PDF-1.7 signed"
