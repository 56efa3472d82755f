"""What each hospital owes under a framework contract for a period (read-only).

The usage comes from the decisions themselves: a permit whose gateway confirmed it (reservation
``confirmed``) is a completed, billable study, and its ``overage`` flag says it went beyond the
licence's quota. It is read from the monthly rollup (``usage_monthly``, kept exact by database
triggers: :mod:`registry.services.usage_rollup`), so that no event is ever loaded into Python and a
year of ten million events is a few thousand rows; the pure domain
(:mod:`registry.domain.pricing`) does the rest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.contracts import ContractTool, FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.domain.pricing import (Allocation, MonthUsage, Period, Split, SplitRule, ToolTerms, allocate_costs,
                                     month_end, month_start, parse_period)
from registry.permissions import Permission
from registry.scope import can_see, scope_of
from registry.services.contracts import schedule_of
from registry.services.errors import NotFound, ValidationFailed
from registry.services.usage_rollup import monthly_counts


@dataclass
class ContractAllocation:
    contract: FrameworkContract
    allocation: Allocation
    hospitals: dict[str, Organisation]  # key (URA) → organisation
    vat_bp: int

    def view(self, only: int | None = None) -> dict[str, Any]:
        """The API's shape; ``only`` keeps one hospital's line (a hospital's own user)."""
        lines = [{"hospital": {"ura": self.hospitals[line.hospital].ura, "name": self.hospitals[line.hospital].name},
                  "amount_cents": line.amount_cents, "explanation": line.explanation}
                 for line in self.allocation.lines
                 if only is None or self.hospitals[line.hospital].id == only]
        return {"contract": {"id": self.contract.id, "reference": self.contract.reference},
                "period": self.allocation.period.label,
                "starts_on": self.allocation.period.starts_on.isoformat(),
                "ends_on": self.allocation.period.ends_on.isoformat(),
                "currency": self.contract.currency, "vat_bp": self.vat_bp,
                "total_cents": self.allocation.total_cents if only is None else sum(
                    line["amount_cents"] for line in lines),
                "volume": self.allocation.volume, "lines": lines}


def hospital_key(org: Organisation) -> str:
    return org.ura or f"id:{org.id}"


def parse(period: str) -> Period:
    try:
        return parse_period(period)
    except ValueError as exc:
        raise ValidationFailed("invalid period", {"period": str(exc)}) from None


def monthly_usage(session: Session, licence_ids: list[int], period: Period
                  ) -> dict[int, dict[tuple[int, int], MonthUsage]]:
    """Completed studies per licence and month (within quota and overage), from the monthly rollup
    the database keeps exact (periods are whole months, so the rollup answers them exactly)."""
    counts = monthly_counts(session, licence_ids, period.starts_on, period.ends_on)
    return {lic: {m: MonthUsage(v[0], v[1]) for m, v in months.items()} for lic, months in counts.items()}


def _overlaps(starts_on: date, ends_on: date, period: Period) -> bool:
    return starts_on <= period.ends_on and ends_on >= period.starts_on


def allocate_contract(session: Session, *, actor: Actor, contract_id: int, period: str) -> ContractAllocation:
    """The cost allocation of one framework contract over ``period`` (``2026``, ``2026-Q3``, ``2026-07``).

    The hospitals sharing it are those with a call-off under the contract whose term overlaps the
    period; fees and minimums accrue for the months of the period in which the contract ran.
    """
    actor.require(Permission.CONTRACTS_READ)
    contract = session.get(FrameworkContract, contract_id)
    if contract is None or not can_see(session, scope_of(session, actor), FrameworkContract, contract):
        raise NotFound(f"no framework contract {contract_id}")
    per = parse(period)
    licences = [lic for lic in session.scalars(select(Licence).where(Licence.contract_id == contract.id)
                                               .order_by(Licence.id))
                if _overlaps(lic.starts_on, lic.ends_on, per)]
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(
        Organisation.id.in_({lic.hospital_id for lic in licences})))} if licences else {}
    if not orgs:
        raise ValidationFailed("no call-offs in this period", {"period": f"no licence under {contract.reference} "
                                                                         f"runs in {per.label}"})
    hospitals = sorted(orgs.values(), key=lambda o: o.name)
    keys = {o.id: hospital_key(o) for o in hospitals}
    usage = monthly_usage(session, [lic.id for lic in licences], per)
    months_in_force = [(y, m) for y, m in per.months if contract.status != "draft"
                       and _overlaps(contract.starts_on, contract.ends_on, Period("", month_start(y, m),
                                                                                  month_end(y, m)))]
    tools = []
    for item, tool in session.execute(select(ContractTool, Tool).join(Tool, Tool.id == ContractTool.tool_id)
                                      .where(ContractTool.contract_id == contract.id).order_by(Tool.name)):
        by_hospital: dict[str, dict[tuple[int, int], MonthUsage]] = defaultdict(dict)
        for lic in licences:
            if lic.tool_id != tool.id:
                continue
            for month, u in usage.get(lic.id, {}).items():
                prev = by_hospital[keys[lic.hospital_id]].get(month, MonthUsage())
                by_hospital[keys[lic.hospital_id]][month] = MonthUsage(prev.within_quota + u.within_quota,
                                                                       prev.overage + u.overage)
        tools.append(ToolTerms(tool.name, schedule_of(contract, item), by_hospital, months_in_force))
    split = Split(SplitRule(contract.split_rule), dict(contract.split_shares or {}))
    allocation = allocate_costs(per, [keys[o.id] for o in hospitals], tools, split)
    return ContractAllocation(contract, allocation, {keys[o.id]: o for o in hospitals}, contract.vat_bp)
