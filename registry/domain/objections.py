"""Patients' objections in and out of the registry: CSV and FHIR R4 ``Consent`` (a Bundle), parsed
line by line into rows or errors, and the HMAC-SHA256 pseudonym everything is keyed by.

Pure: no database. The services check the parsed rows against the registry (purposes, what is
already recorded) and store all of them or none.

The pseudonym (see docs/objections.md) is HMAC-SHA256 over the patient identifier as the gateway
sees it — the DICOM PatientID (0010,0020), trimmed, UTF-8 — with a key of at least 32 random bytes
that the hospital and its gateway share and the registry never sees, written as 64 lowercase hex
characters. The registry never computes one (it has no key): :func:`registry.client.pseudonym` is
the computation for the hospital's and the gateway's side.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from registry.domain.identifiers import validate_pseudonym

CSV_COLUMNS = ("pseudonym", "purpose", "recorded_on")  # recorded_on may be left empty: today
MAX_ROWS = 100_000
# FHIR codings the registry writes and reads.
PURPOSE_SYSTEM = "https://aifi.nl/fhir/CodeSystem/processing-purpose"
PSEUDONYM_SYSTEM = "https://aifi.nl/fhir/NamingSystem/patient-pseudonym"
URA_SYSTEM = "http://fhir.nl/fhir/NamingSystem/ura"
SCOPE = {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
CATEGORY = {"system": "http://loinc.org", "code": "59284-0"}  # Patient Consent


@dataclass(frozen=True)
class ObjectionRow:
    line: int  # CSV line, or the Bundle entry's number (1-based)
    pseudonym: str
    purpose: str
    recorded_on: date | None
    active: bool = True  # FHIR status inactive: a withdrawn objection (exported history)


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


def check_rows(rows: list[ObjectionRow], purposes: set[str]) -> list[LineError]:
    """Errors the rows have among themselves and against the known purposes."""
    errors, seen = [], {}
    for row in rows:
        if row.purpose not in purposes:
            errors.append(LineError(row.line, f"unknown purpose {row.purpose!r}; known: {', '.join(sorted(purposes))}"))
        key = (row.pseudonym, row.purpose)
        if key in seen and row.active:
            errors.append(LineError(row.line, f"duplicate of line {seen[key]} (same pseudonym and purpose)"))
        seen.setdefault(key, row.line)
    return errors


def _pseudonym_or_error(value: str, line: int, errors: list[LineError]) -> str | None:
    try:
        return validate_pseudonym(value.strip())
    except ValueError:
        errors.append(LineError(line, "pseudonym is not a hex keyed hash of 32 to 128 lowercase characters"))
        return None


def parse_csv(text: str) -> tuple[list[ObjectionRow], list[LineError]]:
    """``pseudonym,purpose,recorded_on`` with that header; every bad line reported."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != CSV_COLUMNS:
        return [], [LineError(1, f"the header must be exactly: {','.join(CSV_COLUMNS)}")]
    rows: list[ObjectionRow] = []
    errors: list[LineError] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append(LineError(number, f"more than {MAX_ROWS} lines"))
            break
        if len(cells) != len(CSV_COLUMNS):
            errors.append(LineError(number, f"{len(cells)} columns, expected {len(CSV_COLUMNS)}"))
            continue
        value, purpose, day = (c.strip() for c in cells)
        pseudo = _pseudonym_or_error(value, number, errors)
        recorded = None
        if day:
            try:
                recorded = date.fromisoformat(day)
            except ValueError:
                errors.append(LineError(number, "recorded_on is not a date (YYYY-MM-DD)"))
                continue
        if pseudo is not None:
            rows.append(ObjectionRow(number, pseudo, purpose, recorded))
    return rows, errors


def parse_fhir_bundle(raw: bytes | str) -> tuple[list[ObjectionRow], list[LineError]]:
    """A FHIR R4 Bundle of ``Consent`` resources, each validated with fhir.resources; an objection
    is ``provision.type = deny`` with one or more coded ``provision.purpose``."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.consent import Consent
    from pydantic import ValidationError

    try:
        data = json.loads(raw)
    except ValueError:
        return [], [LineError(0, "not JSON")]
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        return [], [LineError(0, "not a FHIR Bundle")]
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        return [], [LineError(0, "Bundle.entry is not a list")]
    rows: list[ObjectionRow] = []
    errors: list[LineError] = []
    try:
        Bundle.model_validate({k: v for k, v in data.items() if k != "entry"})
    except ValidationError as exc:
        errors.append(LineError(0, f"invalid Bundle: {exc.errors()[0]['msg']}"))
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Consent":
            errors.append(LineError(number, "entry is not a Consent"))
            continue
        try:
            consent = Consent.model_validate(resource)
        except ValidationError as exc:
            first = exc.errors()[0]
            errors.append(LineError(number, f"invalid Consent at {'.'.join(map(str, first['loc']))}: {first['msg']}"))
            continue
        provision = consent.provision
        if provision is None or provision.type != "deny":
            errors.append(LineError(number, "the Consent is not an objection (provision.type must be deny)"))
            continue
        identifier = consent.patient.identifier if consent.patient else None
        if identifier is None or not identifier.value:
            errors.append(LineError(number, "patient.identifier (the pseudonym) is missing"))
            continue
        pseudo = _pseudonym_or_error(identifier.value, number, errors)
        codes = [c.code for c in provision.purpose or [] if c.code]
        if not codes:
            errors.append(LineError(number, "provision.purpose is missing"))
            continue
        when = consent.dateTime
        recorded = when.date() if isinstance(when, datetime) else when if isinstance(when, date) else None
        if pseudo is not None:
            rows.extend(ObjectionRow(number, pseudo, code, recorded, consent.status == "active") for code in codes)
    return rows, errors


def consent_resource(*, pseudonym_value: str, purpose: str, recorded_on: date, active: bool,
                     hospital_ura: str | None, ref: str) -> dict[str, Any]:
    """One objection as a FHIR R4 Consent (withdrawn: status inactive, history kept)."""
    resource: dict[str, Any] = {
        "resourceType": "Consent", "id": ref, "status": "active" if active else "inactive",
        "scope": {"coding": [SCOPE]}, "category": [{"coding": [CATEGORY]}],
        "patient": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": pseudonym_value}},
        "dateTime": recorded_on.isoformat(),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]},
        "provision": {"type": "deny", "purpose": [{"system": PURPOSE_SYSTEM, "code": purpose}]},
    }
    if hospital_ura:
        resource["organization"] = [{"identifier": {"system": URA_SYSTEM, "value": hospital_ura}}]
    return resource


def consent_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A Bundle of Consents, validated with fhir.resources before it leaves the registry."""
    from fhir.resources.R4B.bundle import Bundle

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def render_csv(rows: list[tuple[str, str, date]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for pseudo, purpose, recorded in rows:
        writer.writerow([pseudo, purpose, recorded.isoformat()])
    return out.getvalue()
