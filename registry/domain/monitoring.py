"""Pooled monitoring of AI tools: discrepancy rates with Wilson intervals, and the flag rule.

Radiologists answer per routed study whether they *agree* with the tool's result, *disagree*, or
did *not assess* it. The discrepancy rate of a group (a hospital, or a subgroup of studies) is
k / n with k the disagreements and n the assessed studies (agree + disagree). Studies not
assessed say nothing about the tool, so they count in neither k nor n (they are shown apart).

A group is **flagged** when its 95 % Wilson score interval lies entirely above the pooled rate of
all *other* groups of the same comparison taken together (itself excluded, so that one large
group cannot hide behind its own weight). An interval that only touches the pooled rate is not
flagged. One hospital rarely has enough studies to see a subgroup drift; pooled over the
consortium it can (AI Act Art. 26(5), feeding the provider's post-market monitoring, Art. 72).

Pure: no database, no Flask. The counting happens in the database (registry.services.monitoring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Hashable, Iterable

from registry.domain.dicom import parse_age_string

# The 97.5th percentile of the standard normal distribution: a two-sided 95 % interval.
Z_95 = 1.959963984540054

AGREE, DISAGREE, NOT_ASSESSED = "agree", "disagree", "not-assessed"
ASSESSMENTS = (AGREE, DISAGREE, NOT_ASSESSED)

# What kind of discrepancy (or why not assessed): a short code list, so that the figures can be
# broken down without free text (which might carry a name or a patient detail). Optional.
CATEGORIES = (
    "false-positive",    # the tool reported a finding the radiologist does not see
    "false-negative",    # the tool missed a finding
    "measurement",       # a measured value (bone age, size) is off
    "localisation",      # right finding, wrong place or side
    "image-quality",     # the image did not allow a judgement (typically with not-assessed)
    "other",
)

# Age bands in whole years, lower bound inclusive: the paediatric bands are narrow because bone
# age (BoneXpert) is judged against the child's age and changes fast.
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 5, "0-4"), (5, 10, "5-9"), (10, 15, "10-14"), (15, 18, "15-17"),
    (18, 45, "18-44"), (45, 65, "45-64"), (65, None, "65+"),
)
AGE_BAND_CODES = tuple(code for _, _, code in AGE_BANDS)
DIMENSIONS = ("age_band", "sex", "modality")


def age_band(years: Decimal | float | None) -> str | None:
    """The band of an age in years, or None when it is unknown."""
    if years is None:
        return None
    for low, high, code in AGE_BANDS:
        if years >= low and (high is None or years < high):
            return code
    return None  # a negative age: unknown rather than wrong


def study_subgroup(request: dict[str, Any]) -> dict[str, str | None]:
    """Age band, sex and modality of the study a decision was asked for (its stored request).

    Only what the gateway sent is used; anything missing or unreadable is None ("unknown").
    """
    study = request.get("study") if isinstance(request, dict) else None
    if not isinstance(study, dict):
        return {"age_band": None, "sex": None, "modality": None}
    years: Decimal | None = None
    if isinstance(study.get("patient_age_years"), (int, float)):
        try:
            years = Decimal(str(study["patient_age_years"]))
        except InvalidOperation:  # pragma: no cover - a float always converts
            years = None
    elif isinstance(study.get("patient_age"), str):
        try:
            years = parse_age_string(study["patient_age"])
        except ValueError:
            years = None
    sex = study.get("patient_sex") if study.get("patient_sex") in ("M", "F", "O") else None
    modality = study.get("modality")
    if not (isinstance(modality, str) and 0 < len(modality) <= 16):
        modality = None  # the decision schema allows 2–16 capitals; older rows may hold anything
    return {"age_band": age_band(years), "sex": sex, "modality": modality}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(k: int, n: int, z: float = Z_95) -> Interval | None:
    """The Wilson score interval for k successes out of n (None when n is 0).

    (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), clipped to [0, 1] against rounding.
    Unlike p̂ ± z·√(p̂(1−p̂)/n) it stays inside [0, 1] and is not zero-width at k = 0 or k = n,
    which matters for the small counts of one hospital or subgroup.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return None
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low, high = centre - half, centre + half
    # At k = 0 the low end is exactly 0 (and at k = n the high end exactly 1) in real arithmetic.
    return Interval(0.0 if k == 0 else max(0.0, low), 1.0 if k == n else min(1.0, high))


def lies_above(interval: Interval | None, rate: float | None) -> bool:
    """The flag rule: the whole interval lies above the rate (touching it is not above)."""
    return interval is not None and rate is not None and interval.low > rate


@dataclass(frozen=True)
class Counts:
    """One group's counts: disagreements, assessed studies (agree + disagree), not assessed."""

    key: Hashable
    disagree: int
    assessed: int
    not_assessed: int = 0


@dataclass(frozen=True)
class Finding:
    key: Hashable
    disagree: int
    assessed: int
    not_assessed: int
    rate: float | None
    interval: Interval | None
    others_disagree: int
    others_assessed: int
    others_rate: float | None
    flagged: bool


def compare(groups: Iterable[Counts]) -> list[Finding]:
    """Each group against the pooled rate of all the others, in the order given."""
    groups = list(groups)
    total_k = sum(g.disagree for g in groups)
    total_n = sum(g.assessed for g in groups)
    out = []
    for g in groups:
        if g.disagree > g.assessed:
            raise ValueError(f"{g.key!r}: more disagreements than assessed studies")
        ok, on = total_k - g.disagree, total_n - g.assessed
        others_rate = ok / on if on else None  # no other group: nothing to compare against
        interval = wilson(g.disagree, g.assessed)
        out.append(Finding(g.key, g.disagree, g.assessed, g.not_assessed,
                           g.disagree / g.assessed if g.assessed else None, interval, ok, on,
                           others_rate, lies_above(interval, others_rate)))
    return out
