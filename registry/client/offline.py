"""Offline decisions from a verified bundle: the gateway's last resort when the registry is down.

Fail closed, always: no bundle, an expired bundle, a tool or purpose it does not list, terms that
ended (``until``, an inclusive Amsterdam date), a study the small intended-use check below cannot
show to be within the tool's intended use, or a used-up offline allowance: each is a deny.

The intended-use check is written here on purpose rather than imported from the server (the client
must not import it). It is *stricter* than the registry's: every constraint in the bundle must be
positively shown by the study (a missing BodyPartExamined or SOP class list is a deny offline, where
the registry may be lenient), and an intended-use key it does not know is a deny.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
KNOWN_KEYS = {"modalities", "body_parts", "age_years", "age_years_by_sex", "contrast",
              "sop_class_uids", "requires", "notes"}
_AS = re.compile(r"^(\d{3})([DWMY])$")
_AS_DAYS = {"D": Decimal(1), "W": Decimal(7), "M": Decimal("30.4375"), "Y": Decimal("365.25")}


def study_age_years(study: dict[str, Any]) -> Decimal | None:
    """Age in years from ``patient_age_years`` or a DICOM AS string (``009Y``, ``018M``)."""
    if study.get("patient_age_years") is not None:
        try:
            return Decimal(str(study["patient_age_years"]))
        except InvalidOperation:
            return None
    match = _AS.match(str(study.get("patient_age") or ""))
    if not match:
        return None
    n, unit = Decimal(match.group(1)), match.group(2)
    return n if unit == "Y" else n * _AS_DAYS[unit] / _AS_DAYS["Y"]


def intended_use_problems(spec: dict[str, Any], study: dict[str, Any]) -> list[str]:
    """The attributes for which the study is not *shown* to be within ``spec`` (empty: within)."""
    problems = [f"unknown intended-use rule {k!r}" for k in sorted(set(spec) - KNOWN_KEYS)]
    modality = (study.get("modality") or "").upper()
    if modality not in [m.upper() for m in spec.get("modalities") or []]:
        problems.append("modality")  # a bundle always names modalities; none listed = no match
    body_parts = [b.upper() for b in spec.get("body_parts") or []]
    if body_parts and (study.get("body_part") or "").upper() not in body_parts:
        problems.append("body_part")
    sex = study.get("patient_sex")
    by_sex = spec.get("age_years_by_sex")
    bounds = (by_sex or {}).get(sex) if by_sex else spec.get("age_years")
    if by_sex or "sex" in (spec.get("requires") or []):
        if not sex:
            problems.append("sex")
    if by_sex or spec.get("age_years"):
        age = study_age_years(study)
        low, high = (bounds or {}).get("min"), (bounds or {}).get("max")
        if age is None or bounds is None or (low is not None and age < Decimal(str(low))) \
                or (high is not None and age > Decimal(str(high))):
            problems.append("age")
    contrast = spec.get("contrast")
    if contrast == "required" and study.get("contrast") is not True:
        problems.append("contrast")
    elif contrast == "forbidden" and study.get("contrast") is not False:
        problems.append("contrast")
    elif contrast not in (None, "required", "forbidden"):
        problems.append("contrast")
    sop = spec.get("sop_class_uids") or []
    if sop and not set(sop) & set(study.get("sop_class_uids") or []):
        problems.append("sop_class")
    return problems


@dataclass
class OfflineVerdict:
    permit: bool
    code: str  # PERMIT_OFFLINE or the reason for the deny
    detail: str


def judge(payload: dict[str, Any] | None, *, tool: str, purpose: str, study: dict[str, Any],
          now: datetime, used: int) -> OfflineVerdict:
    """Decide from a bundle payload whose signature was already verified. ``used`` is how many
    offline permits this gateway already gave for ``tool`` under this bundle."""
    def deny(code: str, detail: str) -> OfflineVerdict:
        return OfflineVerdict(False, code, detail)

    if payload is None:
        return deny("NO_VERIFIED_BUNDLE", "the registry is unreachable and no verified bundle is held")
    if now.timestamp() >= payload["exp"]:
        return deny("BUNDLE_EXPIRED", "the bundle has expired; offline routing stops (fail closed)")
    entry = next((t for t in payload.get("tools") or [] if t.get("tool") == tool), None)
    if entry is None:
        return deny("TOOL_NOT_IN_BUNDLE", f"the bundle does not allow {tool} offline")
    today = now.astimezone(AMSTERDAM).date()
    if not entry.get("until") or today > date.fromisoformat(entry["until"]):
        return deny("TERMS_ENDED", f"the terms for {tool} end(ed) on {entry.get('until')}")
    if purpose not in (entry.get("purposes") or []):
        return deny("PURPOSE_NOT_COVERED", f"purpose {purpose} is not allowed offline for {tool}")
    problems = intended_use_problems(entry.get("intended_use") or {}, study)
    if problems:
        return deny("OUTSIDE_INTENDED_USE", "not shown to be within intended use: "
                    + ", ".join(problems))
    if used >= int(entry.get("offline_allowance") or 0):
        return deny("OFFLINE_ALLOWANCE_USED", f"the offline allowance for {tool} is used up")
    return OfflineVerdict(True, "PERMIT_OFFLINE", "permitted from the signed bundle")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
