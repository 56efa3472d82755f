"""Joint procurement: framework contracts, their buyers, tools and prices, and call-off licences.

OCDS models a framework and each call-off as separate processes; here a Licence is the call-off
of one hospital for one tool under one FrameworkContract. Terms live on the contract and licence
(dates, quota, price); the status on each is the state a person set (suspended, terminated).
Whether it is *in force* on a day is derived in one place (registry.domain.terms).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class ContractStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class FrameworkContract(SQLModel, table=True):
    __tablename__ = "framework_contracts"
    __table_args__ = (
        CheckConstraint("status IN ('draft','active','suspended','terminated')", name="status"),
        CheckConstraint("ends_on >= starts_on", name="term_order"),
        CheckConstraint("split_rule IN ('equal','fixed','pro_rata')", name="split_rule"),
        CheckConstraint("vat_bp >= 0 AND vat_bp <= 10000", name="vat_range"),
        CheckConstraint("ceiling_studies IS NULL OR ceiling_studies >= 0", name="ceiling_studies_nonneg"),
        CheckConstraint("ceiling_cents IS NULL OR ceiling_cents >= 0", name="ceiling_cents_nonneg"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=64, unique=True)
    title: str = Field(max_length=200)
    vendor_id: int = Field(foreign_key="organisations.id", index=True)
    # The contract this one extends (OCDS relatedProcesses), e.g. the one-year pilot extension.
    extends_id: int | None = Field(default=None, foreign_key="framework_contracts.id")
    starts_on: date
    ends_on: date  # inclusive, Europe/Amsterdam
    # Extension options in order, e.g. [{"months": 12, "notice_days": 90}]. Exercising one extends
    # this contract's term (the "extended term" model; ContractExtension records who and when);
    # ``extends_id`` remains only for contracts imported under the older linked-successor model.
    extension_options: list[dict[str, Any]] = json_field(list)
    currency: str = Field(default="EUR", max_length=3)
    # What all call-offs together may not exceed (None: no ceiling), in studies and/or money.
    ceiling_studies: int | None = None
    ceiling_cents: int | None = None
    # How shared amounts (fixed fee, minimum-commitment top-up) are split among the hospitals:
    # equal, fixed (``split_shares``: hospital URA → basis points adding up to 10000), pro_rata.
    split_rule: str = Field(default="equal", max_length=16)
    split_shares: dict[str, int] = json_field()
    vat_bp: int = 2100  # VAT in basis points; amounts are kept excluding VAT
    indexation_bp: int = 0  # annual indexation in basis points
    indexation_on: date | None = None  # the first indexation day; again on each anniversary
    status: str = Field(default=ContractStatus.ACTIVE, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    illustrative: bool = False
    created_at: datetime = utc_field()


class ContractBuyer(SQLModel, table=True):
    """A buyer under a framework: the consortium and/or member hospitals (OCDS allows several)."""

    __tablename__ = "contract_buyers"
    __table_args__ = (UniqueConstraint("contract_id", "organisation_id"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="framework_contracts.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id")


class ContractTool(SQLModel, table=True):
    """A tool covered by a framework, with its price schedule in exact cents."""

    __tablename__ = "contract_tools"
    __table_args__ = (
        UniqueConstraint("contract_id", "tool_id"),
        CheckConstraint("unit_price_cents >= 0", name="unit_price_nonneg"),
        CheckConstraint("overage_price_cents >= 0", name="overage_price_nonneg"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="framework_contracts.id", index=True)
    tool_id: int = Field(foreign_key="tools.id")
    unit_price_cents: int = 0  # per study within quota
    overage_price_cents: int = 0  # per study beyond quota, where overage is allowed
    annual_fee_cents: int = 0
    minimum_commitment_cents: int = 0  # per contract year, consortium-wide
    # Prices on the consortium's volume in the period: [{"from_studies": 1000, "unit_price_cents": 400}].
    tiers: list[dict[str, int]] = json_field(list)


class ContractExtension(SQLModel, table=True):
    """An extension option exercised: who, when, and the term before and after."""

    __tablename__ = "contract_extensions"
    __table_args__ = (UniqueConstraint("contract_id", "option_index"),
                      CheckConstraint("new_ends_on > previous_ends_on", name="extends_term"))

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="framework_contracts.id", index=True)
    option_index: int
    months: int
    previous_ends_on: date
    new_ends_on: date
    exercised_by: str = Field(max_length=120)  # the actor reference ("user:3")
    exercised_at: datetime = utc_field()
    note: str = Field(default="", max_length=500)


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Licence(SQLModel, table=True):
    """A call-off licence: one hospital, one tool, under a framework contract."""

    __tablename__ = "licences"
    __table_args__ = (
        CheckConstraint("status IN ('active','suspended','terminated')", name="status"),
        CheckConstraint("quota_period IN ('term','year','month')", name="quota_period"),
        CheckConstraint("on_quota_exhausted IN ('deny','overage')", name="on_quota_exhausted"),
        CheckConstraint("quota_limit IS NULL OR quota_limit >= 0", name="quota_nonneg"),
        CheckConstraint("ends_on >= starts_on", name="term_order"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=64, unique=True)
    contract_id: int = Field(foreign_key="framework_contracts.id", index=True)
    hospital_id: int = Field(foreign_key="organisations.id", index=True)
    tool_id: int = Field(foreign_key="tools.id", index=True)
    starts_on: date
    ends_on: date  # inclusive, Europe/Amsterdam
    quota_limit: int | None = None  # studies per period; None = no quota
    quota_period: str = Field(default="term", max_length=8)
    on_quota_exhausted: str = Field(default="deny", max_length=8)
    status: str = Field(default=LicenceStatus.ACTIVE, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    illustrative: bool = False
    created_at: datetime = utc_field()


class QuotaCounter(SQLModel, table=True):
    """Units reserved or used in one quota window of a licence.

    Reserved with a conditional ``UPDATE … SET used = used + 1 WHERE used < limit`` so that
    concurrent gateways on several registry instances can never exceed the quota.
    """

    __tablename__ = "quota_counters"
    __table_args__ = (
        UniqueConstraint("licence_id", "window_start"),
        CheckConstraint("used >= 0", name="used_nonneg"),
    )

    id: int | None = Field(default=None, primary_key=True)
    licence_id: int = Field(foreign_key="licences.id")
    window_start: date
    window_end: date
    used: int = 0
