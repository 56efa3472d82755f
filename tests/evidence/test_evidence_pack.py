"""The evidence pack: its PDF read back as text names what an inspector checks; its JSON carries a
checkpoint whose Ed25519 signature verifies with the registry's public key and pins the audit
chain; the reading is logged; a hospital's people get only their own hospital's pack."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pypdf import PdfReader
from sqlalchemy import select

from registry.audit.verify import public_keys, verify_chain
from registry.db.audit import AuditEntry
from registry.services import agreements, incidents
from tests.audit.test_api import staff
from tests.factories import SYSTEM, bearer, child_hand, make_world

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def pack_world(client, session, clock):
    """A hospital with a deployment, a licence, a signed agreement with an uploaded signed copy, a
    serious incident, and a permit and a deny through the API."""
    w = make_world(session, clock)
    agreements.upload_agreement_document(session, actor=SYSTEM, clock=clock, agreement_id=w.agreement.id,
                                         filename="signed.pdf", content=b"%PDF-1.4 signed copy")
    incidents.report_incident(session, actor=SYSTEM, clock=clock, kind="serious_incident", tool_id=w.tool.id,
                              hospital_id=w.hospital.id, description="wrong bone age on a sample",
                              occurred_on=date(2026, 5, 28), aware_on=date(2026, 5, 29), severity="other")
    session.commit()
    headers = bearer(session, clock, w.gateway)
    for body in (child_hand(w.tool.slug, "ev-1"), child_hand(w.tool.slug, "ev-2", study={"patient_age_years": 40})):
        assert client.post("/api/v1/decisions", json=body.model_dump(mode="json", exclude_none=True),
                           headers=headers).status_code == 200
    return w


def test_json_verifies_against_its_checkpoint(client, session, clock, pack_world):
    w = pack_world
    answer = client.get(f"/api/v1/evidence/{w.hospital.ura}/{w.tool.slug}.json",
                        headers=staff(session, clock, "auditor@demo.aifi.nl"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    pack = json.loads(answer.data)
    assert pack["hospital"]["ura"] == w.hospital.ura and pack["tool"]["slug"] == w.tool.slug
    assert pack["licence"]["reference"] == w.licence.reference
    assert pack["agreement"]["reference"] == w.agreement.reference
    assert pack["agreement"]["signed_documents"][0]["sha256"] == hashlib.sha256(b"%PDF-1.4 signed copy").hexdigest()
    assert pack["deployment"]["status"] == "approved" and pack["deployment"]["missing"] == []
    assert [d["duty"] for d in pack["incidents"][0]["duties"]]
    assert (pack["decisions"]["permit"], pack["decisions"]["deny"]) == (1, 1)
    assert pack["decisions"]["deny_reasons"] == {"OUTSIDE_INTENDED_USE": 1}
    assert pack["monitoring"] == {"available": False, "feedback_recorded": 0, "hospital": [], "flagged_subgroups": []}

    # The checkpoint's signature, checked with nothing but the public key and cryptography.
    cp = pack["checkpoints"][0]
    header_b64, payload_b64, signature_b64 = cp["jws"].split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "EdDSA" or header["alg"] == "Ed25519"
    assert header["kid"] == cp["kid"] == pack["audit"]["key"]["kid"]
    key = Ed25519PublicKey.from_public_bytes(_b64(pack["audit"]["key"]["x"]))
    key.verify(_b64(signature_b64), f"{header_b64}.{payload_b64}".encode())  # raises if it does not verify
    statement = json.loads(_b64(payload_b64))
    assert (statement["seq"], statement["head_hash"]) == (cp["seq"], cp["head_hash"])

    # The chain up to that seq recomputes to the signed head, and the entry there carries it.
    session.rollback()
    report = verify_chain(session, keys=public_keys(session), kept_checkpoints=[cp["jws"]])
    assert report.ok, report.failure
    assert session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == cp["seq"])) == cp["head_hash"]
    # The pack's own changes (the decisions above) lie inside the checkpoint.
    decision_seqs = session.scalars(select(AuditEntry.seq).where(AuditEntry.event_type == "decision",
                                                                 AuditEntry.actor == w.actor.ref))
    assert all(seq is not None and seq <= cp["seq"] for seq in decision_seqs)

    # The reading is logged, with the SHA-256 of exactly what was handed out.
    read = session.scalar(select(AuditEntry).where(AuditEntry.object_type == "evidence_pack")
                          .order_by(AuditEntry.id.desc()))
    assert read.action_code == "R" and read.object_id == f"{w.hospital.ura}/{w.tool.slug}"
    assert read.detail["sha256"] == hashlib.sha256(answer.data).hexdigest()
    assert read.on_behalf_of_id == w.hospital.id


def test_the_pdf_names_what_an_inspector_checks(client, session, clock, pack_world):
    w = pack_world
    headers = staff(session, clock, "auditor@demo.aifi.nl")
    answer = client.get(f"/api/v1/evidence/{w.hospital.ura}/{w.tool.slug}.pdf", headers=headers)
    assert answer.status_code == 200 and answer.content_type == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.data)).pages)
    compact = "".join(text.split())
    head = json.loads(client.get(f"/api/v1/evidence/{w.hospital.ura}/{w.tool.slug}.json",
                                 headers=headers).data)["checkpoints"][0]
    for expected in (w.hospital.name, w.tool.name, w.licence.reference, w.agreement.reference):
        assert "".join(expected.split()) in compact
    assert "Bewijsdossier" in text and "Geen terugkoppeling vastgelegd" in text  # Dutch by default
    # The second request signed a newer checkpoint (its own read entry came after the first):
    # the PDF names the checkpoint as it stood when the PDF was made, at most one seq older.
    assert any(f"{seq}" in text for seq in (head["seq"], head["seq"] - 1, head["seq"] - 2))
    pdf_head = _pdf_head_hash(compact)
    assert pdf_head is not None and session.scalar(
        select(AuditEntry.seq).where(AuditEntry.entry_hash == pdf_head)) is not None
    english = client.get(f"/api/v1/evidence/{w.hospital.ura}/{w.tool.slug}.pdf?lang=en", headers=headers)
    assert "Evidence pack" in PdfReader(io.BytesIO(english.data)).pages[0].extract_text()
    if os.environ.get("REGISTRY_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        pdf = DOCS / "evidence-pack.pdf"
        pdf.write_bytes(answer.data)
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(DOCS / "evidence-pack-page1")], check=True)
        pdf.unlink()


def _pdf_head_hash(compact: str) -> str | None:
    """The 64 hex digits after the PDF's 'head hash' label (whitespace removed)."""
    import re

    match = re.search(r"(?:Kophash|Headhash)([0-9a-f]{64})", compact)
    return match.group(1) if match else None


def test_the_checkpoint_head_hash_is_in_the_pdf(client, session, clock, pack_world):
    """Render the pack from the very data whose checkpoint we hold: the PDF carries its head hash."""
    from registry.reports.evidence import evidence_pdf
    from registry.services.evidence import evidence_pack

    w = pack_world
    reg = client.application.extensions["registry"]
    with client.application.test_request_context():
        pack = evidence_pack(session, actor=SYSTEM, clock=clock, engine=reg.policy, signer=reg.signer,
                             issuer="http://registry.test", hospital_ura=w.hospital.ura, tool_slug=w.tool.slug)
        text = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(evidence_pdf(pack))).pages).split())
    assert _pdf_head_hash(text) == pack["checkpoints"][0]["head_hash"]
    assert w.licence.reference in text and w.agreement.reference in text


def test_scope_permission_and_authentication(client, session, clock, pack_world):
    w = pack_world
    path = f"/api/v1/evidence/{w.hospital.ura}/{w.tool.slug}.json"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=staff(session, clock, "lezer@demo.aifi.nl")).status_code == 403
    oost = staff(session, clock, "privacy@oost.demo.aifi.nl")
    assert client.get(path, headers=oost).status_code == 404  # another hospital's: does not exist
    from registry.db.organisations import Organisation

    own = session.scalar(select(Organisation).where(Organisation.name == "Demo Ziekenhuis Oost"))
    assert client.get(f"/api/v1/evidence/{own.ura}/bonexpert.json", headers=oost).status_code == 200
    assert client.get(f"/api/v1/evidence/{own.ura}/no-such-tool.pdf", headers=oost).status_code == 404
    bad = client.get(f"/api/v1/evidence/{own.ura}/bonexpert.json?from=2026-06-01&to=2026-01-01", headers=oost)
    assert bad.status_code == 400


def test_the_pack_carries_the_hospitals_monitoring_figures_and_the_tools_flagged_subgroups(client, session, clock):
    """The demo world's feedback: the pack of a hospital that assessed BoneXpert shows its rate with
    the interval beside the other hospitals' pooled rate, and the flagged subgroup, in its PDF too."""
    from registry.actor import Actor
    from registry.db.users import User
    from registry.services.monitoring import monitoring_figures

    auditor = session.scalar(select(User).where(User.email == "auditor@demo.aifi.nl"))
    figures = monitoring_figures(session, actor=Actor.for_user(auditor))
    row = next(r for r in figures.hospitals if r["tool"]["slug"] == "bonexpert" and r["assessed"])
    headers = staff(session, clock, "auditor@demo.aifi.nl")
    pack = json.loads(client.get(f"/api/v1/evidence/{row['hospital']['ura']}/bonexpert.json", headers=headers).data)
    monitoring = pack["monitoring"]
    assert monitoring["available"] and monitoring["feedback_recorded"] == row["assessed"] + row["not_assessed"]
    assert [(r["hospital"]["ura"], r["rate"], r["others_rate"]) for r in monitoring["hospital"]] == [
        (row["hospital"]["ura"], row["rate"], row["others_rate"])]
    assert [(r["dimension"], r["value"]) for r in monitoring["flagged_subgroups"]] == [("age_band", "15-17")]
    pdf = client.get(f"/api/v1/evidence/{row['hospital']['ura']}/bonexpert.pdf", headers=headers).data
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Gemarkeerde subgroepen" in text and "15–17 jaar" in text
