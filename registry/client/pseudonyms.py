"""The patient pseudonym the registry is keyed by, computed on the hospital's side.

HMAC-SHA256 over the patient identifier as the gateway sees it — the DICOM PatientID (0010,0020),
with surrounding spaces removed (DICOM pads values to an even length), encoded as UTF-8 — under a
key of at least 32 random bytes that the hospital and its gateway share and the registry never sees;
written as 64 lowercase hexadecimal characters, the form ``POST /api/v1/decisions`` accepts as
``patient_pseudonym`` and the objection uploads use. Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_BYTES = 32


def pseudonym(patient_id: str, key: bytes) -> str:
    """``hmac.new(key, patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()``."""
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the key must be at least {MIN_KEY_BYTES} random bytes (for example secrets.token_bytes(32))")
    patient = patient_id.strip()
    if not patient:
        raise ValueError("an empty patient identifier has no pseudonym")
    return hmac.new(bytes(key), patient.encode("utf-8"), hashlib.sha256).hexdigest()
