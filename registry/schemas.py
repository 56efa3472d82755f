"""Request schemas shared by the API and the services. Unknown fields, wrong types and oversized values are refused."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from registry.domain.dicom import is_uid, parse_age_string
from registry.domain.identifiers import looks_like_bsn, validate_pseudonym

_SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=256)


class StudyIn(_Strict):
    study_key: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    modality: Annotated[str, Field(max_length=16, pattern=r"^[A-Z]{2,16}$")] | None = None
    body_part: Annotated[str, Field(max_length=64, pattern=r"^[A-Z0-9 _-]{1,64}$")] | None = None
    patient_age_years: float | None = None  # strict: a JSON number, never a string
    patient_age: Annotated[str, Field(max_length=4)] | None = None
    patient_sex: Literal["M", "F", "O"] | None = None
    sop_class_uids: Annotated[list[str], Field(max_length=32)] = []
    contrast: StrictBool | None = None

    @field_validator("study_key")
    @classmethod
    def _opaque(cls, value: str) -> str:
        # The study key must be opaque (e.g. a hash); refuse what looks like a BSN.
        if looks_like_bsn(value):
            raise ValueError("study_key must be an opaque key, not a citizen service number")
        return value

    @field_validator("patient_age_years")
    @classmethod
    def _age_range(cls, value: float | None) -> float | None:
        if value is not None and not (0 <= value <= 150):
            raise ValueError("must be between 0 and 150")
        return value

    @field_validator("patient_age")
    @classmethod
    def _age_string(cls, value: str | None) -> str | None:
        if value is not None:
            parse_age_string(value)  # raises ValueError with the reason
        return value

    @field_validator("sop_class_uids")
    @classmethod
    def _uids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not is_uid(v)]
        if bad:
            raise ValueError(f"not DICOM UIDs: {bad[:3]}")
        return value

    @property
    def age_years(self) -> Decimal | None:
        """Years from patient_age_years, else from the DICOM AS patient_age."""
        if self.patient_age_years is not None:
            return Decimal(str(self.patient_age_years))
        if self.patient_age is not None:
            return parse_age_string(self.patient_age)
        return None


class DecisionIn(_Strict):
    tool: Annotated[str, Field(pattern=_SLUG)]
    tool_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    purpose: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z-]{0,39}$")]
    study: StudyIn
    patient_pseudonym: Annotated[str, Field(max_length=128)] | None = None
    dry_run: StrictBool = False

    @field_validator("patient_pseudonym")
    @classmethod
    def _pseudonym(cls, value: str | None) -> str | None:
        return None if value is None else validate_pseudonym(value)


class EvaluateIn(DecisionIn):
    """Time travel: would this have been permitted on ``at``? Staff may name another hospital."""

    at: date
    hospital_ura: Annotated[str, Field(pattern=r"^[0-9]{8}$")] | None = None
    dry_run: StrictBool = True

    @field_validator("at", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
        if isinstance(value, str):
            raise ValueError("must be a date, YYYY-MM-DD")
        return value

    @model_validator(mode="after")
    def _always_dry(self) -> "EvaluateIn":
        self.dry_run = True  # an evaluation never reserves anything
        return self
