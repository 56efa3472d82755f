"""Identifiers of Dutch care organisations and patients' pseudonyms."""

from __future__ import annotations

import re

_EIGHT_DIGITS = re.compile(r"^[0-9]{8}$")
# A keyed hash (HMAC) agreed between hospital and gateway; the registry never sees a BSN.
_PSEUDONYM = re.compile(r"^[0-9a-f]{32,128}$")


def validate_eight_digits(value: str | None, label: str) -> str | None:
    """URA (UZI-register subscriber number), AGB code and KvK number are all 8 digits."""
    if value is None or value == "":
        return None
    value = value.strip()
    if not _EIGHT_DIGITS.match(value):
        raise ValueError(f"{label} must be exactly 8 digits, got {value!r}")
    return value


def looks_like_bsn(value: str) -> bool:
    """A BSN passing the eleven-test, also written with separators (``1234.56.782``) or as an
    older eight-digit number (read with a leading zero): refuse it wherever an opaque key or a
    pseudonym is expected."""
    compact = re.sub(r"[\s.\-]", "", value)
    if not re.fullmatch(r"[0-9]{8,9}", compact):
        return False
    digits = [int(c) for c in compact.zfill(9)]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1))) - digits[8]
    return total % 11 == 0


def validate_pseudonym(value: str) -> str:
    value = value.strip().lower()
    if not _PSEUDONYM.match(value):
        raise ValueError("patient_pseudonym must be a hex keyed hash of 32 to 128 characters")
    return value
