"""DICOM attribute parsing (PS3.5 value representations) for intended-use checks."""

from __future__ import annotations

import re
from decimal import Decimal

# DICOM AS (Age String): exactly 4 characters, nnnD / nnnW / nnnM / nnnY.
_AGE_STRING = re.compile(r"^([0-9]{3})([DWMY])$")
_UNIT_YEARS = {"D": Decimal(1) / Decimal("365.25"), "W": Decimal(7) / Decimal("365.25"),
               "M": Decimal(1) / Decimal(12), "Y": Decimal(1)}

MODALITIES = frozenset({"CR", "DX", "CT", "MR", "US", "MG", "PT", "NM", "XA", "RF", "OT"})
SEXES = frozenset({"M", "F", "O"})

SOP_CLASS = {
    "1.2.840.10008.5.1.4.1.1.1": "CR",  # Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1": "DX",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.2": "CT",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1": "CT",  # Enhanced CT Image Storage
}
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def parse_age_string(value: str) -> Decimal:
    """Years as an exact Decimal from a DICOM AS value such as ``009Y`` or ``018M``.

    Raises ``ValueError`` on anything that is not a well-formed AS.
    """
    match = _AGE_STRING.match(value)
    if not match:
        raise ValueError(f"not a DICOM age string (nnnD, nnnW, nnnM or nnnY): {value!r}")
    number, unit = match.groups()
    return Decimal(int(number)) * _UNIT_YEARS[unit]


def is_uid(value: str) -> bool:
    """A DICOM UID: dotted digits, no leading zeros, at most 64 characters."""
    return len(value) <= 64 and bool(_UID.match(value))
