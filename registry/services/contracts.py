"""Joint procurement: framework contracts and call-off licences."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.contracts import ContractBuyer, ContractTool, FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.domain.quota import OnQuotaExhausted, QuotaPeriod
from registry.domain.terms import Term
from registry.permissions import Permission
from registry.services._rows import create_row, set_status
from registry.services.errors import NotFound, ValidationFailed


def create_contract(session: Session, *, actor: Actor, clock: Clock, reference: str, title: str,
                    vendor_id: int, starts_on: date, ends_on: date, buyer_ids: list[int],
                    tools: list[dict[str, Any]], extends_id: int | None = None,
                    extension_options: list[dict[str, Any]] | None = None,
                    status: str = "active", illustrative: bool = False) -> FrameworkContract:
    """A framework contract with its buyers and the tools it covers (prices in cents)."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    try:
        Term(starts_on, ends_on)
    except ValueError as exc:
        raise ValidationFailed("invalid term", {"ends_on": str(exc)}) from exc
    contract = FrameworkContract(reference=reference, title=title, vendor_id=vendor_id,
                                 starts_on=starts_on, ends_on=ends_on, extends_id=extends_id,
                                 extension_options=extension_options or [], status=status,
                                 illustrative=illustrative)
    create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=contract)
    for buyer_id in buyer_ids:
        create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                   row=ContractBuyer(contract_id=contract.id, organisation_id=buyer_id))
    for item in tools:
        for key in ("unit_price_cents", "overage_price_cents", "annual_fee_cents"):
            if not isinstance(item.get(key, 0), int):
                raise ValidationFailed("money is exact", {key: "must be whole cents"})
        create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                   row=ContractTool(contract_id=contract.id, **item))
    return contract


def create_licence(session: Session, *, actor: Actor, clock: Clock, reference: str,
                   contract_id: int, hospital_id: int, tool_id: int, starts_on: date, ends_on: date,
                   quota_limit: int | None, quota_period: str = "term",
                   on_quota_exhausted: str = "deny", illustrative: bool = False) -> Licence:
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    fields: dict[str, str] = {}
    contract = session.get(FrameworkContract, contract_id)
    if contract is None:
        raise NotFound(f"no framework contract {contract_id}")
    hospital = session.get(Organisation, hospital_id)
    if hospital is None or hospital.kind != "hospital":
        fields["hospital_id"] = "must be a hospital"
    covered = session.scalar(select(ContractTool.id).where(ContractTool.contract_id == contract_id,
                                                           ContractTool.tool_id == tool_id))
    if covered is None:
        fields["tool_id"] = "the framework contract does not cover this tool"
    if ends_on < starts_on:
        fields["ends_on"] = "ends before it starts"
    elif not (contract.starts_on <= starts_on and ends_on <= contract.ends_on):
        fields["starts_on"] = "a call-off must lie within its framework contract's term"
    if quota_limit is not None and quota_limit < 0:
        fields["quota_limit"] = "must be zero or more"
    try:
        QuotaPeriod(quota_period)
        OnQuotaExhausted(on_quota_exhausted)
    except ValueError as exc:
        fields["quota_period"] = str(exc)
    if fields:
        raise ValidationFailed("invalid licence", fields)
    licence = Licence(reference=reference, contract_id=contract_id, hospital_id=hospital_id,
                      tool_id=tool_id, starts_on=starts_on, ends_on=ends_on,
                      quota_limit=quota_limit, quota_period=quota_period,
                      on_quota_exhausted=on_quota_exhausted, illustrative=illustrative)
    return create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                      row=licence)


def _status_action(status: str) -> str:
    return "reactivate" if status == "active" else status


def set_licence_status(session: Session, *, actor: Actor, clock: Clock, licence_id: int,
                       status: str, reason: str) -> Licence:
    return set_status(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                      model=Licence, row_id=licence_id, status=status,
                      allowed=("active", "suspended", "terminated"), reason=reason,
                      action=_status_action(status))


def set_contract_status(session: Session, *, actor: Actor, clock: Clock, contract_id: int,
                        status: str, reason: str) -> FrameworkContract:
    return set_status(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                      model=FrameworkContract, row_id=contract_id, status=status,
                      allowed=("draft", "active", "suspended", "terminated"), reason=reason,
                      action=_status_action(status))
