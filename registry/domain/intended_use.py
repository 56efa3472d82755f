"""Intended-use matching: is this study within what the tool version is certified for?

The intended use is *data* on the tool version (see DOMAIN.md: keep it editable), shaped as::

    {"modalities": ["CR", "DX"],            # required; the study's Modality must be one of them
     "body_parts": ["HAND"],                # optional; absent or empty = any body part
     "age_years": {"min": 0, "max": 19},    # optional; inclusive bounds, in years
     "age_years_by_sex": {"M": {"min": 0, "max": 19}, "F": {"min": 0, "max": 18}},  # optional
     "contrast": "required" | "forbidden",  # optional; absent = either
     "sop_class_uids": ["1.2.840..."],      # optional; at least one of the study's must match
     "requires": ["sex"]}                   # optional; attributes that must be present

A study lacking an attribute the tool needs is *outside intended use*, not an error: the gateway
cannot show the condition holds, so the registry does not let the study through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ATTRIBUTES = ("modality", "body_part", "age", "sex", "contrast", "sop_class")


@dataclass(frozen=True, slots=True)
class Study:
    """The DICOM facts a gateway sends about one study (never patient identity)."""

    modality: str | None = None
    body_part: str | None = None
    age_years: Decimal | None = None
    sex: str | None = None
    sop_class_uids: tuple[str, ...] = field(default_factory=tuple)
    contrast: bool | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    attribute: str  # one of ATTRIBUTES
    detail: str


def _fmt(value: Decimal | int | float) -> str:
    d = Decimal(str(value)).normalize()
    return format(d, "f")


def _age_bounds(spec: dict[str, Any], sex: str | None) -> tuple[dict[str, Any] | None, bool]:
    """The applicable age bounds and whether they depend on sex."""
    by_sex = spec.get("age_years_by_sex")
    if by_sex:
        return (by_sex.get(sex) if sex else None), True
    return spec.get("age_years"), False


def _one_of(attribute: str, dicom_name: str, allowed: list[str], value: str | None) -> Mismatch | None:
    """``value`` must be one of ``allowed`` (when the tool restricts it); absent is a mismatch."""
    if not allowed:
        return None
    if not value:
        return Mismatch(attribute, f"the study has no {dicom_name}; the tool needs one of "
                        + ", ".join(allowed))
    if value.upper() not in allowed:
        return Mismatch(attribute, f"{dicom_name} {value} is not one of " + ", ".join(allowed))
    return None


def check_intended_use(spec: dict[str, Any], study: Study) -> list[Mismatch]:
    """Every way in which ``study`` falls outside ``spec``, in the fixed order of ATTRIBUTES."""
    out: list[Mismatch] = []
    for attribute, dicom_name, allowed, value in (
            ("modality", "Modality", spec.get("modalities"), study.modality),
            ("body_part", "BodyPartExamined", spec.get("body_parts"), study.body_part)):
        mismatch = _one_of(attribute, dicom_name, [a.upper() for a in allowed or []], value)
        if mismatch:
            out.append(mismatch)

    requires = set(spec.get("requires") or [])
    bounds, by_sex = _age_bounds(spec, study.sex)
    if by_sex:
        requires.add("sex")
    has_age_rule = bool(spec.get("age_years") or spec.get("age_years_by_sex"))
    if has_age_rule:
        if study.age_years is None:
            out.append(Mismatch("age", "the study has no patient age; the tool has an age range"))
        elif bounds is None:
            # Sex missing or a sex for which the tool has no range (e.g. "O" for BoneXpert).
            if study.sex:
                out.append(Mismatch("age", f"the tool has no age range for patient sex {study.sex}"))
        else:
            low, high = bounds.get("min"), bounds.get("max")
            if low is not None and study.age_years < Decimal(str(low)):
                out.append(Mismatch("age", f"patient age {_fmt(study.age_years)} y is below the "
                                    f"minimum of {_fmt(low)} y"))
            elif high is not None and study.age_years > Decimal(str(high)):
                out.append(Mismatch("age", f"patient age {_fmt(study.age_years)} y is above the "
                                    f"maximum of {_fmt(high)} y"))

    if "sex" in requires and not study.sex:
        out.append(Mismatch("sex", "the study has no PatientSex; the tool needs it"))

    contrast = spec.get("contrast")
    if contrast == "required":
        if study.contrast is None:
            out.append(Mismatch("contrast", "the study does not say whether contrast was given; "
                                "the tool needs a contrast-enhanced study"))
        elif not study.contrast:
            out.append(Mismatch("contrast", "the tool needs a contrast-enhanced study"))
    elif contrast == "forbidden" and study.contrast:
        out.append(Mismatch("contrast", "the tool is not for contrast-enhanced studies"))

    sop_classes = spec.get("sop_class_uids") or []
    if sop_classes and study.sop_class_uids:
        # Only checked when the gateway sends SOP classes: Modality already gates the kind of image.
        if not set(sop_classes) & set(study.sop_class_uids):
            out.append(Mismatch("sop_class", "none of the study's SOP classes is supported by the tool"))
    return out


def validate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Refuse malformed intended-use data before it is stored."""
    if not isinstance(spec, dict):
        raise ValueError("intended use must be an object")
    allowed = {"modalities", "body_parts", "age_years", "age_years_by_sex", "contrast",
               "sop_class_uids", "requires", "notes"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"unknown intended-use keys: {sorted(unknown)}")
    if not spec.get("modalities"):
        raise ValueError("intended use must name at least one modality")
    if spec.get("contrast") not in (None, "required", "forbidden"):
        raise ValueError("contrast must be 'required' or 'forbidden'")
    for bounds in [spec.get("age_years")] + list((spec.get("age_years_by_sex") or {}).values()):
        if bounds is None:
            continue
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and high is not None and low > high:
            raise ValueError("age range minimum is above its maximum")
    if set(spec.get("requires") or []) - set(ATTRIBUTES):
        raise ValueError(f"requires may only name {ATTRIBUTES}")
    return spec
