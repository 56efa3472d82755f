"""Prices of a framework contract and what each hospital owes for a period (pure, exact cents).

A framework contract's price schedule (per tool it covers) supports: a price per study; tiered
prices on the consortium-wide volume of the period (the tier reached by all hospitals together
sets the price for all of the period's studies); an annual fixed fee, charged pro rata to the
months of the period; a minimum commitment per year (pro rata likewise) topped up when the
per-study charges fall short; an overage price for studies beyond a licence's quota; an annual
indexation percentage applied on a date each year; and a VAT rate. Amounts are kept **excluding
VAT**; statements add it.

Every split of a shared amount (fixed fee, minimum-commitment top-up) uses the largest-remainder
method (:func:`registry.domain.money.allocate`), so the hospitals' lines add up to the total to the
cent, and each line carries sentences its controller can check by hand.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Mapping

from registry.domain.money import allocate

BASIS_POINTS = 10_000  # percentages are kept in basis points: 21 % VAT is 2100


# -- periods -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Period:
    """A billing period: a year (``2026``), a quarter (``2026-Q3``) or a month (``2026-07``)."""

    label: str
    starts_on: date
    ends_on: date  # inclusive

    @property
    def months(self) -> list[tuple[int, int]]:
        """(year, month) of each calendar month in the period."""
        out, y, m = [], self.starts_on.year, self.starts_on.month
        while (y, m) <= (self.ends_on.year, self.ends_on.month):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out


_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


def parse_period(text: str) -> Period:
    """``2026`` → the year, ``2026-Q3`` → July–September, ``2026-07`` → July; else ValueError."""
    match = _PERIOD.match(text or "")
    if match is None:
        raise ValueError("a period is a year (2026), a quarter (2026-Q3) or a month (2026-07)")
    year = int(match.group(1))
    if match.group(2):
        q = int(match.group(2))
        first, last = 3 * q - 2, 3 * q
    elif match.group(3):
        first = last = int(match.group(3))
    else:
        first, last = 1, 12
    return Period(text, date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1]))


def month_start(year: int, month: int) -> date:
    return date(year, month, 1)


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


# -- price schedule ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tier:
    """From ``from_studies`` studies in the period (consortium-wide), each study costs this."""

    from_studies: int
    unit_price_cents: int


@dataclass(frozen=True)
class PriceSchedule:
    """The prices of one tool under one framework contract (cents, excluding VAT)."""

    unit_price_cents: int
    tiers: tuple[Tier, ...] = ()
    annual_fee_cents: int = 0
    minimum_commitment_cents: int = 0  # per contract year, consortium-wide
    overage_price_cents: int = 0
    indexation_bp: int = 0  # e.g. 300 = 3 % a year
    indexation_on: date | None = None  # the first indexation day; again on each anniversary
    vat_bp: int = 2100

    def __post_init__(self) -> None:
        amounts = (self.unit_price_cents, self.annual_fee_cents, self.minimum_commitment_cents,
                   self.overage_price_cents, *(t.unit_price_cents for t in self.tiers))
        if any(not isinstance(a, int) or isinstance(a, bool) or a < 0 for a in amounts):
            raise ValueError("prices are whole, non-negative cents")
        if any(t.from_studies < 1 for t in self.tiers):
            raise ValueError("a tier starts at 1 study or more")
        if len({t.from_studies for t in self.tiers}) != len(self.tiers):
            raise ValueError("two tiers start at the same volume")
        if not 0 <= self.vat_bp <= BASIS_POINTS or not -BASIS_POINTS < self.indexation_bp <= BASIS_POINTS:
            raise ValueError("VAT and indexation are percentages")

    def tier_for(self, volume: int) -> Tier:
        """The tier reached by ``volume`` studies (the base price is the tier from 0)."""
        reached = Tier(0, self.unit_price_cents)
        for tier in sorted(self.tiers, key=lambda t: t.from_studies):
            if volume >= tier.from_studies:
                reached = tier
        return reached

    def indexations(self, day: date) -> int:
        """How many indexation days have passed on ``day`` (the first one and its anniversaries)."""
        if self.indexation_on is None or self.indexation_bp == 0 or day < self.indexation_on:
            return 0
        first = self.indexation_on
        n = day.year - first.year + 1
        if (day.month, day.day) < (first.month, first.day):
            n -= 1
        return n

    def indexed(self, cents: int, day: date) -> int:
        """``cents`` after the indexations passed on ``day``, rounded to the cent each year
        (half to even), as an invoice would state the new price."""
        value = cents
        for _ in range(self.indexations(day)):
            value = _round(Decimal(value) * (BASIS_POINTS + self.indexation_bp) / BASIS_POINTS)
        return value


def _round(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def vat_cents(amount_cents: int, vat_bp: int) -> int:
    """VAT on an amount excluding VAT, rounded half to even to the cent."""
    return _round(Decimal(amount_cents) * vat_bp / BASIS_POINTS)


def per_month(annual_cents: int, month: int) -> int:
    """The share of ``month`` in an annual amount: the difference of the pro-rata amounts to the end
    of the month and to the end of the month before, so that twelve months add up to the annual
    amount exactly and a quarter of an amount divisible by four is exactly a quarter of it."""
    def upto(m: int) -> int:
        return _round(Decimal(annual_cents) * m / 12)
    return upto(month) - upto(month - 1)


# -- usage, split rule, allocation ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MonthUsage:
    """Completed studies of one hospital for one tool in one month: within quota and overage."""

    within_quota: int = 0
    overage: int = 0

    @property
    def total(self) -> int:
        return self.within_quota + self.overage


class SplitRule(StrEnum):
    EQUAL = "equal"
    FIXED = "fixed"  # fixed percentages per hospital (basis points adding up to 100 %)
    PRO_RATA = "pro_rata"  # in proportion to completed studies in the period


@dataclass(frozen=True)
class Split:
    rule: SplitRule = SplitRule.EQUAL
    shares_bp: Mapping[str, int] = field(default_factory=dict)  # hospital key → basis points

    def __post_init__(self) -> None:
        if self.rule is SplitRule.FIXED:
            if any(v < 0 for v in self.shares_bp.values()) or sum(self.shares_bp.values()) != BASIS_POINTS:
                raise ValueError("fixed shares are non-negative and add up to 100 %")


@dataclass
class ToolTerms:
    """One tool of a framework for one period: its schedule and who used how much, per month."""

    tool: str  # the name shown in explanations
    schedule: PriceSchedule
    # hospital key → (year, month) → usage
    usage: Mapping[str, Mapping[tuple[int, int], MonthUsage]]
    # the months of the period in which the contract was in force (fees and minimums accrue there)
    months_in_force: list[tuple[int, int]]


@dataclass
class Line:
    hospital: str
    amount_cents: int = 0
    explanation: list[str] = field(default_factory=list)


@dataclass
class Allocation:
    period: Period
    total_cents: int
    lines: list[Line]
    volume: dict[str, int]  # tool → consortium volume in the period

    def line(self, hospital: str) -> Line:
        return next(line for line in self.lines if line.hospital == hospital)


def euros(cents: int) -> str:
    """Cents as plain euros with two decimals (``1234`` → ``€ 12.34``), for explanation lines."""
    sign = "-" if cents < 0 else ""
    return f"{sign}€ {abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _split(amount: int, hospitals: list[str], split: Split, studies: dict[str, int]) -> tuple[list[int], str]:
    if split.rule is SplitRule.FIXED:
        weights = [split.shares_bp.get(h, 0) for h in hospitals]
        if sum(weights) == 0:
            return allocate(amount, [1] * len(hospitals)), "equal shares (no fixed share for these hospitals)"
        return allocate(amount, weights), "fixed shares"
    if split.rule is SplitRule.PRO_RATA:
        weights = [studies.get(h, 0) for h in hospitals]
        if sum(weights) == 0:
            return allocate(amount, [1] * len(hospitals)), "equal shares (no completed studies to weigh by)"
        return allocate(amount, weights), "in proportion to completed studies"
    return allocate(amount, [1] * len(hospitals)), "equal shares"


def _share_out(lines: dict[str, Line], amount: int, hospitals: list[str], split: Split,
               studies: dict[str, int], what: str) -> None:
    """Split a shared amount among the hospitals' lines, each with a sentence saying how."""
    if not amount:
        return
    shares, how = _split(amount, hospitals, split, studies)
    for h, share in zip(hospitals, shares):
        lines[h].amount_cents += share
        lines[h].explanation.append(f"{what}, {how}: {euros(share)}")


def allocate_costs(period: Period, hospitals: list[str], tools: list[ToolTerms], split: Split) -> Allocation:
    """What each of ``hospitals`` owes for ``period`` under one framework (cents, excluding VAT).

    Per tool: the consortium volume of the period picks the tier, whose price (indexed for the
    month of each study) applies to every study within quota; studies beyond a licence's quota
    cost the overage price. The fixed fee and the minimum-commitment top-up for the months in
    force are split among ``hospitals`` by ``split``. Lines add up to ``total_cents`` exactly.
    """
    if not hospitals:
        raise ValueError("an allocation needs at least one hospital")
    if len(set(hospitals)) != len(hospitals):
        raise ValueError("a hospital appears twice")
    lines = {h: Line(h) for h in hospitals}
    volumes: dict[str, int] = {}
    for terms in tools:
        sched = terms.schedule
        unknown = set(terms.usage) - set(hospitals)
        if unknown:
            raise ValueError(f"usage of hospitals outside the allocation: {sorted(unknown)}")
        volume = sum(u.total for months in terms.usage.values() for u in months.values())
        volumes[terms.tool] = volume
        tier = sched.tier_for(volume)
        tier_text = (f"tier from {tier.from_studies:,} studies" if tier.from_studies else "base price")
        studies: dict[str, int] = {}
        usage_total = 0
        for h in hospitals:
            months = terms.usage.get(h, {})
            charged, counted = 0, 0
            for (y, m), u in sorted(months.items()):
                if u.total == 0:
                    continue
                unit = sched.indexed(tier.unit_price_cents, month_start(y, m))
                over = sched.indexed(sched.overage_price_cents, month_start(y, m))
                amount = u.within_quota * unit + u.overage * over
                charged += amount
                counted += u.total
                text = f"{terms.tool} {y}-{m:02d}: {u.within_quota:,} studies × {euros(unit)}"
                if u.overage:
                    text += f" + {u.overage:,} beyond quota × {euros(over)}"
                lines[h].explanation.append(f"{text} = {euros(amount)}")
            studies[h] = counted
            lines[h].amount_cents += charged
            usage_total += charged
        if volume:
            for h in hospitals:
                if studies[h]:
                    lines[h].explanation.append(
                        f"{terms.tool}: price per study at the {tier_text} "
                        f"(consortium volume {volume:,} in {period.label})")
        def accrued(annual: int) -> int:
            return sum(per_month(sched.indexed(annual, month_start(y, m)), m) for y, m in terms.months_in_force)

        fee = accrued(sched.annual_fee_cents)
        _share_out(lines, fee, hospitals, split, studies,
                   f"{terms.tool}: fixed fee for {len(terms.months_in_force)} month(s) {euros(fee)}")
        minimum = accrued(sched.minimum_commitment_cents)
        top_up = max(0, minimum - usage_total)
        _share_out(lines, top_up, hospitals, split, studies,
                   f"{terms.tool}: minimum commitment {euros(minimum)} for the period, per-study "
                   f"charges {euros(usage_total)}, top-up {euros(top_up)}")
    ordered = [lines[h] for h in hospitals]
    return Allocation(period, sum(line.amount_cents for line in ordered), ordered, volumes)


# -- ceiling -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ceiling:
    """What all call-offs of a framework together may not exceed: studies and/or money."""

    studies: int | None = None
    cents: int | None = None

    def breach(self, studies: int | None, cents: int | None) -> str | None:
        """Why ``studies`` / ``cents`` committed (None: unbounded) break the ceiling, or None."""
        for limit, value, text in ((self.studies, studies, lambda n: f"{n:,} studies"),
                                   (self.cents, cents, euros)):
            if limit is None:
                continue
            if value is None:
                return (f"the framework has a ceiling of {text(limit)}; a call-off without a quota "
                        "would be unbounded")
            if value > limit:
                return (f"all call-offs together would commit {text(value)}, above the framework's "
                        f"ceiling of {text(limit)}")
        return None


def quota_units(quota_period: str, quota_limit: int | None, starts_on: date, ends_on: date) -> int | None:
    """Studies a licence can commit over its whole term (None when it has no quota)."""
    if quota_limit is None:
        return None
    if quota_period == "term":
        return quota_limit
    if quota_period == "year":
        return quota_limit * (ends_on.year - starts_on.year + 1)
    months = (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month + 1
    return quota_limit * months
