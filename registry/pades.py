"""PAdES signatures in an uploaded PDF, validated with pyHanko, offline.

For every signature in the file: its integrity and coverage (the signed bytes unchanged, nothing but
form filling — such as a later party's signature — added after it), the signer's certificate chain to
one of the configured trust anchors (``REGISTRY_SIGNATURE_TRUST_ANCHORS``), and its signing time
(present, not after the moment of checking, within the certificate's validity). Also the terms hash
printed in the revision the signature covers, so that a signature counts only for the terms it saw.

Nothing is fetched: the validation context has ``allow_fetching=False`` and revocation in soft-fail
mode, so revocation (OCSP, CRL) is **not** checked unless the PDF itself carries the information.
This module knows nothing of agreements or the database; the agreements service records what it says.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Sequence

log = logging.getLogger(__name__)

# Why a signature does not count, as stored and shown (translated on the page, see
# registry.workspace.labels, enum "signature_problem").
ALTERED = "altered"  # the signed bytes changed, or content was changed after signing
UNTRUSTED = "untrusted"  # no chain to a configured trust anchor (an unknown CA)
CERTIFICATE = "certificate"  # expired, not yet valid, revoked or not meant for signing
SIGNING_TIME = "signing_time"  # missing, in the future, or outside the certificate's validity
UNSUPPORTED = "unsupported"  # not a PAdES/PKCS#7 signature pyHanko can check
PROBLEMS = (ALTERED, UNTRUSTED, CERTIFICATE, SIGNING_TIME, UNSUPPORTED)

# A signer's clock may run a little ahead of the registry's.
CLOCK_SKEW = timedelta(minutes=5)
ORGANIZATION_IDENTIFIER = "2.5.4.97"  # ETSI EN 319 412-1, e.g. NTRNL-17999001 (a KvK number)
# The terms hash as the generated agreement prints it: eight groups of eight hex digits.
_PRINTED_HASH = re.compile(r"(?<![0-9a-f])((?:[0-9a-f]{8}\s+){7}[0-9a-f]{8})(?![0-9a-f])")


class TrustAnchorError(ValueError):
    """A configured trust anchor file is missing or holds no certificate."""


def load_trust_anchors(paths: Iterable[Path]) -> tuple[bytes, ...]:
    """The DER certificates in the given PEM files (or in every ``*.pem``/``*.crt`` of a folder)."""
    from asn1crypto import pem

    anchors: list[bytes] = []
    for path in paths:
        path = Path(path)
        files = sorted([*path.glob("*.pem"), *path.glob("*.crt")]) if path.is_dir() else [path]
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise TrustAnchorError(f"signature trust anchor {file}: {exc.strerror}") from None
            found = [der for kind, _headers, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"] \
                if pem.detect(data) else []
            if not found:
                raise TrustAnchorError(f"signature trust anchor {file}: no PEM certificate in it")
            anchors.extend(found)
    return tuple(anchors)


@dataclass(frozen=True)
class FoundSignature:
    """One signature in the PDF and what the check found; ``problem`` is None for a valid one."""

    field_name: str
    signer_name: str  # the certificate subject's common name
    organisation_name: str  # its organizationName
    organisation_identifier: str  # its organizationIdentifier (2.5.4.97), if any
    subject: str
    certificate_sha256: str
    signing_time: datetime | None
    printed_terms_hash: str | None  # in the revision this signature covers
    problem: str | None
    detail: str


@dataclass(frozen=True)
class PdfCheck:
    signatures: list[FoundSignature]
    unreadable: str | None = None  # why the PDF could not be read for signatures at all


def printed_terms_hash(pdf: bytes) -> str | None:
    """The one terms hash printed in ``pdf`` (None when there is none, or more than one)."""
    from pypdf import PdfReader

    try:
        with warnings.catch_warnings():
            # pypdf warns about odd but readable files; for reading text those are no errors.
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(pdf), strict=False)
            text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # noqa: BLE001 - any unreadable text is "no hash found"
        log.info("no text read from a signed revision: %s", exc)
        return None
    found = {"".join(match.split()) for match in _PRINTED_HASH.findall(text)}
    return found.pop() if len(found) == 1 else None


def _attribute(name, oid: str) -> str:  # noqa: ANN001
    values = [str(v) for rdn in name.chosen for attr in rdn if attr["type"].dotted == oid
              for v in [attr["value"].native]]
    return values[0] if values else ""


def _check_one(content: bytes, embedded, context, moment: datetime) -> FoundSignature:  # noqa: ANN001
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko.sign.diff_analysis import ModificationLevel

    cert = embedded.signer_cert
    subject = cert.subject
    start, length_a, offset_b, length_b = (int(v) for v in embedded.byte_range)
    # The revision this signature covers ends where its byte range ends: the text read from there
    # is what the signer saw, whatever was appended later.
    revision = content[:offset_b + length_b]
    base = {"field_name": str(embedded.field_name or ""), "subject": subject.human_friendly[:500],
            "signer_name": _attribute(subject, "2.5.4.3")[:200],
            "organisation_name": _attribute(subject, "2.5.4.10")[:200],
            "organisation_identifier": _attribute(subject, ORGANIZATION_IDENTIFIER)[:100],
            "certificate_sha256": hashlib.sha256(cert.dump()).hexdigest(),
            "printed_terms_hash": printed_terms_hash(revision)}
    try:
        status = validate_pdf_signature(embedded, context)
    except Exception as exc:  # noqa: BLE001 - a signature pyHanko cannot evaluate does not count
        return FoundSignature(**base, signing_time=None, problem=UNSUPPORTED, detail=str(exc)[:500])
    timestamp = status.timestamp_validity
    signed_at = timestamp.timestamp if timestamp is not None and timestamp.trusted else status.signer_reported_dt
    signed_at = signed_at.astimezone(timezone.utc) if signed_at is not None else None

    def found(problem: str | None, detail: str) -> FoundSignature:
        return FoundSignature(**base, signing_time=signed_at, problem=problem, detail=detail[:500])

    allowed = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)
    if not (status.intact and status.valid):
        return found(ALTERED, "the signed bytes do not match the signature")
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION \
            or status.modification_level not in allowed or status.docmdp_ok is False:
        return found(ALTERED, "the document was changed after this signature beyond adding signatures "
                              f"({getattr(status.modification_level, 'name', 'unknown')})")
    if status.validation_path is None or status.trust_problem_indic is not None:
        indication = getattr(status.trust_problem_indic, "name", "") or "NO_CERTIFICATE_CHAIN_FOUND"
        problem = UNTRUSTED if indication == "NO_CERTIFICATE_CHAIN_FOUND" else CERTIFICATE
        return found(problem, f"{indication}: issued by {cert.issuer.human_friendly}"[:500])
    if signed_at is None:
        return found(SIGNING_TIME, "the signature carries no signing time")
    if signed_at > moment + CLOCK_SKEW:
        return found(SIGNING_TIME, f"signed at {signed_at.isoformat()}, after the moment of checking")
    valid_from, valid_to = cert["tbs_certificate"]["validity"]["not_before"].native, \
        cert["tbs_certificate"]["validity"]["not_after"].native
    if not valid_from <= signed_at <= valid_to:
        return found(SIGNING_TIME, f"signed at {signed_at.isoformat()}, outside the certificate's validity "
                                   f"({valid_from.date()} to {valid_to.date()})")
    return found(None, f"trusted through {status.validation_path[0].subject.human_friendly}"[:500])


def check_pdf(content: bytes, *, trust_anchors: Sequence[bytes], moment: datetime) -> PdfCheck:
    """Every signature in ``content``, checked at ``moment`` against ``trust_anchors`` (DER).

    With no trust anchors configured nothing can be trusted: every signature is ``untrusted``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _check_pdf(content, trust_anchors, moment)
    # pyHanko validates through asyncio.run, which cannot start inside a running event loop (an
    # async server, or a test process driving a browser): then the check gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_check_pdf, content, trust_anchors, moment).result()


def _check_pdf(content: bytes, trust_anchors: Sequence[bytes], moment: datetime) -> PdfCheck:
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(content), strict=False)
        embedded = list(reader.embedded_regular_signatures)
    except Exception as exc:  # noqa: BLE001 - an unreadable upload is kept, its signatures not counted
        return PdfCheck(signatures=[], unreadable=str(exc)[:300] or type(exc).__name__)
    roots = [asn1_x509.Certificate.load(der) for der in trust_anchors]
    results = []
    for sig in embedded:
        # A fresh context per signature: pyHanko keeps state (paths, revocation info) in it.
        # No fetching: this registry makes no outside calls; revocation is soft-fail (not checked
        # unless the PDF embeds it). An empty root list means nothing is trusted.
        context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail",
                                    moment=moment)
        try:
            results.append(_check_one(content, sig, context, moment))
        except Exception as exc:  # noqa: BLE001 - e.g. no signer certificate in the signature
            results.append(FoundSignature(field_name=str(sig.field_name or ""), signer_name="",
                                          organisation_name="", organisation_identifier="", subject="",
                                          certificate_sha256="", signing_time=None, printed_terms_hash=None,
                                          problem=UNSUPPORTED, detail=str(exc)[:500]))
    return PdfCheck(signatures=results)
