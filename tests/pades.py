"""A local test CA for PAdES signatures, made with ``cryptography`` at test time, and signing a PDF
with pyHanko as a party's own signing tool would. Nothing here is a real CA or a real person: the
names say "test" and the keys live only in memory (or a temporary directory) for one run.

    ca = TestCA()                                        # the CA the registry is told to trust
    cert = ca.issue("Demo Ziekenhuis Noord", person="J. Jurist")
    signed = sign_pdf(pdf, cert, at=datetime(2026, 5, 30, 9, tzinfo=timezone.utc))
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Certificates valid around the demo's day (2026-06-01) whatever the machine's date: the tests move
# time with a fixed clock, and validation happens at that clock's moment.
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)
NOT_AFTER = datetime(2035, 1, 1, tzinfo=timezone.utc)
# The clock of most tests (tests.conftest.DEMO_NOW) minus a day: a plausible moment of signing.
SIGNED_AT = datetime(2026, 5, 31, 9, 0, tzinfo=timezone.utc)


def _name(**attrs: str) -> x509.Name:
    oids = {"cn": NameOID.COMMON_NAME, "o": NameOID.ORGANIZATION_NAME, "c": NameOID.COUNTRY_NAME,
            "org_id": x509.ObjectIdentifier("2.5.4.97")}  # organizationIdentifier (ETSI EN 319 412-1)
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items() if v])


@dataclass
class Signatory:
    """A party's signing certificate and its key (the key only ever in this test's memory)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    ca: "TestCA"


class TestCA:
    """A self-signed root that issues signing certificates to the parties of an agreement."""

    __test__ = False  # not a pytest class, despite its name

    def __init__(self, name: str = "AIFI Test CA (tests only, not a real CA)"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(cn=name, o="AIFI tests", c="NL")
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))

    @property
    def der(self) -> bytes:
        """The CA certificate as the registry holds its trust anchors (``Registry.trust_anchors``)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path) -> Path:
        """The CA certificate as a PEM file (what REGISTRY_SIGNATURE_TRUST_ANCHORS points at)."""
        path = Path(directory) / "test-ca.pem"
        path.write_bytes(self.pem)
        return path

    def issue(self, organisation: str, *, person: str = "Test Signatory", organisation_identifier: str = "",
              not_before: datetime = NOT_BEFORE, not_after: datetime = NOT_AFTER) -> Signatory:
        """A signing certificate (non-repudiation) for a person of ``organisation``."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn=person, o=organisation, org_id=organisation_identifier, c="NL"))
            .issuer_name(self.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))
        return Signatory(certificate=cert, key=key, ca=self)


def _sign(pdf: bytes, signatory: Signatory, at: datetime, field_name: str) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    der = serialization.Encoding.DER
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(signatory.certificate.public_bytes(der)),
        signing_key=asn1_keys.PrivateKeyInfo.load(signatory.key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(signatory.ca.certificate.public_bytes(der))]))
    meta = signers.PdfSignatureMetadata(field_name=field_name, subfilter=SigSeedSubFilter.PADES,
                                        md_algorithm="sha256")
    pdf_signer = signers.PdfSigner(meta, signer)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)

    async def sign() -> bytes:
        # PdfSigner.async_sign_pdf, step by step, to put the signing time of our choosing (the
        # tests' clock, not the machine's) into the signature.
        session = pdf_signer.init_signing_session(writer)
        session.system_time = at
        info = await session.perform_presign_validation(writer)
        reserved = await session.estimate_signature_container_size(info, tight=False)
        tbs = session.prepare_tbs_document(validation_info=info, bytes_reserved=reserved)
        digest, output = tbs.digest_tbs_document()
        from pyhanko.sign.signers.pdf_signer import PdfCMSSignedAttributes

        post = await tbs.perform_signature(document_digest=digest.document_digest,
                                           pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=at))
        await post.post_signature_processing(output)
        return output.getvalue()

    return asyncio.run(sign())


def sign_pdf(pdf: bytes, signatory: Signatory, *, at: datetime = SIGNED_AT, field_name: str = "") -> bytes:
    """``pdf`` with one more PAdES signature (an incremental update), made at ``at``.

    Runs in a thread of its own: pyHanko signs through asyncio, which cannot start inside a running
    event loop (Playwright's sync API keeps one in the browser tests' main thread)."""
    name = field_name or f"Signature-{signatory.certificate.serial_number % 100000}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_sign, pdf, signatory, at, name).result()


def alter_after_signing(signed: bytes) -> bytes:
    """The signed PDF with one bit flipped in a stream of its first revision: bytes every signature's
    range covers (the file's length and layout stay the same, so it still reads)."""
    at = signed.index(b"stream", len(signed) // 4) + 20
    flipped = bytes([signed[at] ^ 0x01])
    return signed[:at] + flipped + signed[at + 1:]


def change_after_signing(signed: bytes) -> bytes:
    """The signed PDF with an incremental update that writes new text onto its first page: what
    a forger would do to change the content while leaving the signed bytes alone."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    stream = generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 72 Td (Other terms apply) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def generated_pdf(app, session, agreement_id: int, lang: str = "nl") -> bytes:  # noqa: ANN001
    """The agreement as the registry generates it from its current terms (what the parties sign)."""
    from registry.actor import Actor
    from registry.reports.agreements import agreement_pdf
    from registry.services.agreements import document_data

    with app.test_request_context():
        return agreement_pdf(document_data(session, actor=Actor.system("tests"), agreement_id=agreement_id), lang)


def sign_as(ca: TestCA, session, agreement, pdf: bytes, *parties: str, at: datetime = SIGNED_AT) -> bytes:  # noqa: ANN001
    """``pdf`` signed in turn by the named parties of ``agreement`` ("controller", "processor"),
    each with a certificate of ``ca`` naming its organisation as registered."""
    from registry.db.organisations import Organisation

    ids = {"controller": agreement.controller_id, "processor": agreement.processor_id}
    for party in parties:
        name = session.get(Organisation, ids[party]).name
        pdf = sign_pdf(pdf, ca.issue(name, person=f"Signatory of the {party}"), at=at)
    return pdf


def upload_signed(app, session, clock, actor, agreement, ca: TestCA,  # noqa: ANN001
                  parties: tuple[str, ...] = ("controller", "processor")):  # noqa: ANN201
    """Generate the agreement, sign it as ``parties`` and upload it through the service (trusting
    ``ca``): the way both parties' signatures reach the registry in the service tests."""
    from registry.services.agreements import upload_agreement_document

    signed = sign_as(ca, session, agreement, generated_pdf(app, session, agreement.id), *parties)
    return upload_agreement_document(session, actor=actor, clock=clock, agreement_id=agreement.id,
                                     filename="signed.pdf", content=signed, trust_anchors=(ca.der,))
