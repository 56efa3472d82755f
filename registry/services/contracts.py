"""Joint procurement: framework contracts (price schedules, ceiling, extension options) and their
call-off licences (create, amend with history, end early)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.contracts import ContractBuyer, ContractExtension, ContractTool, FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.domain.pricing import Ceiling, PriceSchedule, Split, SplitRule, Tier, quota_units
from registry.domain.quota import OnQuotaExhausted, QuotaPeriod
from registry.permissions import Permission
from registry.services._rows import create_row, delete_row, set_status, update_row
from registry.services.errors import Conflict, NotFound, ValidationFailed


_MONEY_KEYS = ("unit_price_cents", "overage_price_cents", "annual_fee_cents", "minimum_commitment_cents")
_TOOL_KEYS = {"tool_id", *_MONEY_KEYS, "tiers"}
# The contract's own fields a PATCH may change (buyers and tools are replaced as wholes).
CONTRACT_FIELDS = ("title", "starts_on", "ends_on", "extension_options", "ceiling_studies", "ceiling_cents",
                   "split_rule", "split_shares", "vat_bp", "indexation_bp", "indexation_on")
LICENCE_FIELDS = ("starts_on", "ends_on", "quota_limit", "quota_period", "on_quota_exhausted")


def schedule_of(contract: FrameworkContract, item: ContractTool | dict[str, Any]) -> PriceSchedule:
    """The price schedule of one tool under ``contract`` (the domain's view of the rows)."""
    get = item.get if isinstance(item, dict) else (lambda k, d=None: getattr(item, k, d))
    return PriceSchedule(
        unit_price_cents=get("unit_price_cents", 0), overage_price_cents=get("overage_price_cents", 0),
        annual_fee_cents=get("annual_fee_cents", 0), minimum_commitment_cents=get("minimum_commitment_cents", 0),
        tiers=tuple(Tier(int(t["from_studies"]), int(t["unit_price_cents"])) for t in get("tiers", None) or []),
        indexation_bp=contract.indexation_bp, indexation_on=contract.indexation_on, vat_bp=contract.vat_bp)


def _check_contract(contract: FrameworkContract, tools: list[dict[str, Any]] | None) -> None:
    """Domain checks of a contract's own fields and price schedules, all reported at once."""
    fields: dict[str, str] = {}
    if contract.ends_on < contract.starts_on:
        fields["ends_on"] = f"term ends ({contract.ends_on}) before it starts ({contract.starts_on})"
    try:
        Split(SplitRule(contract.split_rule), dict(contract.split_shares or {}))
    except ValueError as exc:
        fields["split_rule" if "split_rule" not in str(exc) else "split_rule"] = str(exc)
    for key in ("ceiling_studies", "ceiling_cents"):
        value = getattr(contract, key)
        if value is not None and (not isinstance(value, int) or value < 0):
            fields[key] = "must be a whole number, zero or more"
    for index, option in enumerate(contract.extension_options or []):
        months = option.get("months") if isinstance(option, dict) else None
        if not isinstance(months, int) or not 1 <= months <= 120:
            fields["extension_options"] = f"option {index + 1}: months must be from 1 to 120"
    for index, item in enumerate(tools or []):
        unknown = set(item) - _TOOL_KEYS
        if unknown:
            fields[f"tools.{index}"] = f"unknown fields: {', '.join(sorted(unknown))}"
            continue
        if any(not isinstance(item.get(k, 0), int) or isinstance(item.get(k, 0), bool) for k in _MONEY_KEYS):
            fields[f"tools.{index}"] = "money is whole cents"
            continue
        try:
            schedule_of(contract, item)
        except (ValueError, KeyError, TypeError) as exc:
            fields[f"tools.{index}"] = str(exc)
    try:
        PriceSchedule(0, vat_bp=contract.vat_bp, indexation_bp=contract.indexation_bp)
    except ValueError as exc:
        fields["vat_bp"] = str(exc)
    if fields:
        raise ValidationFailed("invalid framework contract", fields)


def create_contract(session: Session, *, actor: Actor, clock: Clock, reference: str, title: str,
                    vendor_id: int, starts_on: date, ends_on: date, buyer_ids: list[int],
                    tools: list[dict[str, Any]], extends_id: int | None = None,
                    extension_options: list[dict[str, Any]] | None = None,
                    status: str = "active", illustrative: bool = False,
                    **terms: Any) -> FrameworkContract:
    """A framework contract with its buyers and the tools it covers, each with its price schedule
    (cents, excluding VAT). ``terms`` are the other fields of :data:`CONTRACT_FIELDS`."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    unknown = set(terms) - set(CONTRACT_FIELDS)
    if unknown:
        raise ValidationFailed("unknown fields", {k: "unknown field" for k in sorted(unknown)})
    vendor = session.get(Organisation, vendor_id)
    if vendor is None or vendor.kind != "vendor":
        raise ValidationFailed("invalid framework contract", {"vendor_id": "must be a vendor"})
    if session.scalar(select(FrameworkContract.id).where(FrameworkContract.reference == reference)) is not None:
        raise Conflict("a framework contract with this reference already exists",
                               {"reference": "a framework contract with this reference already exists"})
    contract = FrameworkContract(reference=reference, title=title, vendor_id=vendor_id,
                                 starts_on=starts_on, ends_on=ends_on, extends_id=extends_id,
                                 extension_options=extension_options or [], status=status,
                                 illustrative=illustrative, **terms)
    _check_contract(contract, tools)
    create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=contract)
    _set_buyers(session, actor=actor, clock=clock, contract=contract, buyer_ids=buyer_ids)
    _set_tools(session, actor=actor, clock=clock, contract=contract, tools=tools)
    return contract


def _set_buyers(session: Session, *, actor: Actor, clock: Clock, contract: FrameworkContract,
                buyer_ids: list[int]) -> None:
    current = {b.organisation_id: b for b in session.scalars(
        select(ContractBuyer).where(ContractBuyer.contract_id == contract.id))}
    for org_id in buyer_ids:
        org = session.get(Organisation, org_id)
        if org is None or org.kind not in ("hospital", "consortium"):
            raise ValidationFailed("invalid buyers", {"buyer_ids": f"{org_id} is not a hospital or the consortium"})
        if org_id not in current:
            create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                       row=ContractBuyer(contract_id=contract.id, organisation_id=org_id))
    for org_id, row in current.items():
        if org_id not in buyer_ids:
            delete_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=row)


def _set_tools(session: Session, *, actor: Actor, clock: Clock, contract: FrameworkContract,
               tools: list[dict[str, Any]]) -> None:
    current = {t.tool_id: t for t in session.scalars(
        select(ContractTool).where(ContractTool.contract_id == contract.id))}
    wanted = {item["tool_id"]: item for item in tools}
    for tool_id, item in wanted.items():
        if session.get(Tool, tool_id) is None:
            raise ValidationFailed("invalid tools", {"tools": f"no tool {tool_id}"})
        values = {k: item.get(k, [] if k == "tiers" else 0) for k in _TOOL_KEYS - {"tool_id"}}
        if tool_id in current:
            row = current[tool_id]
            if any(getattr(row, k) != v for k, v in values.items()):
                update_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                           row=row, changes=values, message="price schedule changed")
        else:
            create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                       row=ContractTool(contract_id=contract.id, tool_id=tool_id, **values))
    for tool_id, row in current.items():
        if tool_id not in wanted:
            if session.scalar(select(Licence.id).where(Licence.contract_id == contract.id,
                                                       Licence.tool_id == tool_id).limit(1)) is not None:
                raise ValidationFailed("invalid tools", {"tools": "a tool with call-offs cannot be removed"})
            delete_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=row)


def _licences(session: Session, contract_id: int) -> list[Licence]:
    return list(session.scalars(select(Licence).where(Licence.contract_id == contract_id)))


def _outside_term(contract: FrameworkContract, licences: list[Licence]) -> list[str]:
    return [lic.reference for lic in licences
            if lic.starts_on < contract.starts_on or lic.ends_on > contract.ends_on]


def _ceiling_breach(session: Session, contract: FrameworkContract, licences: list[Licence]) -> str | None:
    """Whether the call-offs (all but terminated ones) together break the contract's ceiling."""
    if contract.ceiling_studies is None and contract.ceiling_cents is None:
        return None
    prices = {t.tool_id: t.unit_price_cents for t in session.scalars(
        select(ContractTool).where(ContractTool.contract_id == contract.id))}
    studies: int | None = 0
    cents: int | None = 0
    for lic in licences:
        if lic.status == "terminated":
            continue
        units = quota_units(lic.quota_period, lic.quota_limit, lic.starts_on, lic.ends_on)
        if units is None or lic.on_quota_exhausted == "overage":
            # Overage permits past the quota: such a call-off's volume is unbounded.
            studies = cents = None
            break
        studies += units
        cents += units * prices.get(lic.tool_id, 0)
    return Ceiling(contract.ceiling_studies, contract.ceiling_cents).breach(studies, cents)


def amend_contract(session: Session, *, actor: Actor, clock: Clock, contract_id: int,
                   changes: dict[str, Any], message: str = "") -> FrameworkContract:
    """Change a contract's fields (:data:`CONTRACT_FIELDS`), its buyers (``buyer_ids``) or its
    tools with their price schedules (``tools``, replacing the list). Refused, with nothing
    changed, when a call-off would then lie outside the term or break the ceiling."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    contract = session.get(FrameworkContract, contract_id)
    if contract is None:
        raise NotFound(f"no framework contract {contract_id}")
    changes = dict(changes)
    buyer_ids = changes.pop("buyer_ids", None)
    tools = changes.pop("tools", None)
    unknown = set(changes) - set(CONTRACT_FIELDS)
    if unknown:
        raise ValidationFailed("unknown fields", {k: "unknown field" for k in sorted(unknown)})
    with session.begin_nested():  # a refused amendment leaves nothing behind
        if changes:
            update_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=contract,
                       changes=changes, message=message)
        _check_contract(contract, tools)
        if buyer_ids is not None:
            _set_buyers(session, actor=actor, clock=clock, contract=contract, buyer_ids=buyer_ids)
        if tools is not None:
            _set_tools(session, actor=actor, clock=clock, contract=contract, tools=tools)
        licences = _licences(session, contract.id)
        outside = _outside_term(contract, licences)
        if outside:
            reason = (f"call-off(s) {', '.join(sorted(outside))} would lie outside {contract.starts_on} "
                      f"to {contract.ends_on}; amend or end them first")
            raise ValidationFailed(f"the amendment is refused: {reason}", {"ends_on": reason})
        breach = _ceiling_breach(session, contract, licences)
        if breach:
            raise ValidationFailed(f"the amendment is refused: {breach}",
                                   {"ceiling_cents" if "€" in breach else "ceiling_studies": breach})
    return contract


def add_months(day: date, months: int) -> date:
    """The inclusive end ``months`` after the inclusive end ``day`` (31 Dec + 12 → 31 Dec)."""
    after = day + timedelta(days=1)
    y, m = divmod(after.month - 1 + months, 12)
    year, month = after.year + y, m + 1
    start = date(year, month, min(after.day, calendar.monthrange(year, month)[1]))
    return start - timedelta(days=1)


def exercise_extension(session: Session, *, actor: Actor, clock: Clock, contract_id: int,
                       option_index: int | None = None, note: str = "") -> ContractExtension:
    """Exercise the next (or the given) extension option: the contract's term is extended, and the
    call-offs that ran to its old end follow it, so the next decision after the old end date is a
    permit. Who and when are recorded (ContractExtension, and a change record for each row)."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    contract = session.get(FrameworkContract, contract_id)
    if contract is None:
        raise NotFound(f"no framework contract {contract_id}")
    options = contract.extension_options or []
    done = set(session.scalars(select(ContractExtension.option_index)
                               .where(ContractExtension.contract_id == contract.id)))
    if option_index is None:
        option_index = next((i for i in range(len(options)) if i not in done), None)
        if option_index is None:
            raise ValidationFailed("no extension option left", {"option_index": "every option is exercised"})
    if not 0 <= option_index < len(options):
        raise ValidationFailed("no such extension option", {"option_index": f"0 to {len(options) - 1}"})
    if option_index in done:
        raise ValidationFailed("this option is already exercised", {"option_index": "already exercised"})
    if contract.status == "terminated":
        raise ValidationFailed("a terminated contract cannot be extended", {"status": "terminated"})
    old_end = contract.ends_on
    new_end = add_months(old_end, int(options[option_index]["months"]))
    update_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=contract,
               changes={"ends_on": new_end}, action="extend",
               message=note or f"extension option {option_index + 1} exercised")
    for lic in _licences(session, contract.id):
        if lic.ends_on == old_end and lic.status != "terminated":
            update_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=lic,
                       changes={"ends_on": new_end}, action="extend",
                       message=f"follows the extension of {contract.reference}")
    return create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                      row=ContractExtension(contract_id=contract.id, option_index=option_index,
                                            months=int(options[option_index]["months"]),
                                            previous_ends_on=old_end, new_ends_on=new_end,
                                            exercised_by=actor.ref, exercised_at=clock.now(), note=note))


def _check_licence(session: Session, licence: Licence, others: list[Licence]) -> None:
    """A call-off's terms against its framework: tool covered, term inside, ceiling kept."""
    fields: dict[str, str] = {}
    contract = session.get(FrameworkContract, licence.contract_id)
    if contract is None:
        raise NotFound(f"no framework contract {licence.contract_id}")
    hospital = session.get(Organisation, licence.hospital_id)
    if hospital is None or hospital.kind != "hospital":
        fields["hospital_id"] = "must be a hospital"
    covered = session.scalar(select(ContractTool.id).where(ContractTool.contract_id == contract.id,
                                                           ContractTool.tool_id == licence.tool_id))
    if covered is None:
        fields["tool_id"] = "the framework contract does not cover this tool"
    if licence.ends_on < licence.starts_on:
        fields["ends_on"] = "ends before it starts"
    elif not (contract.starts_on <= licence.starts_on and licence.ends_on <= contract.ends_on):
        fields["ends_on"] = (f"a call-off must lie within its framework contract's term "
                             f"({contract.starts_on} to {contract.ends_on})")
    if licence.quota_limit is not None and (not isinstance(licence.quota_limit, int) or licence.quota_limit < 0):
        fields["quota_limit"] = "must be zero or more"
    try:
        QuotaPeriod(licence.quota_period)
    except ValueError as exc:
        fields["quota_period"] = str(exc)
    try:
        OnQuotaExhausted(licence.on_quota_exhausted)
    except ValueError as exc:
        fields["on_quota_exhausted"] = str(exc)
    if not fields:
        breach = _ceiling_breach(session, contract, [*others, licence])
        if breach:
            fields["quota_limit"] = breach
    if fields:
        # The detail is the reason itself, so an API caller reads it without looking at the fields.
        raise ValidationFailed("the licence is refused: " + "; ".join(fields.values()), fields)


def create_licence(session: Session, *, actor: Actor, clock: Clock, reference: str,
                   contract_id: int, hospital_id: int, tool_id: int, starts_on: date, ends_on: date,
                   quota_limit: int | None, quota_period: str = "term",
                   on_quota_exhausted: str = "deny", illustrative: bool = False) -> Licence:
    """A call-off licence of one hospital for one tool; refused when it would lie outside the
    framework's term or break its ceiling."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    if session.scalar(select(Licence.id).where(Licence.reference == reference)) is not None:
        # Said at the field (the unique constraint behind it would only name itself).
        raise Conflict("a licence with this reference already exists",
                               {"reference": "a licence with this reference already exists"})
    licence = Licence(reference=reference, contract_id=contract_id, hospital_id=hospital_id,
                      tool_id=tool_id, starts_on=starts_on, ends_on=ends_on,
                      quota_limit=quota_limit, quota_period=quota_period,
                      on_quota_exhausted=on_quota_exhausted, illustrative=illustrative)
    _check_licence(session, licence, _licences(session, contract_id))
    return create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                      row=licence)


def amend_licence(session: Session, *, actor: Actor, clock: Clock, licence_id: int,
                  changes: dict[str, Any], message: str = "", action: str = "update") -> Licence:
    """Change a call-off's term or quota (:data:`LICENCE_FIELDS`); its history keeps each change."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    licence = session.get(Licence, licence_id)
    if licence is None:
        raise NotFound(f"no licence {licence_id}")
    unknown = set(changes) - set(LICENCE_FIELDS)
    if unknown:
        raise ValidationFailed("unknown fields", {k: "unknown field" for k in sorted(unknown)})
    if licence.status == "terminated":
        raise ValidationFailed("a terminated licence cannot be amended", {"status": "terminated"})
    proposed = Licence(**{**snapshot_fields(licence), **changes})
    others = [lic for lic in _licences(session, licence.contract_id) if lic.id != licence.id]
    _check_licence(session, proposed, others)
    return update_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=licence,
                      changes=changes, action=action, message=message)


def snapshot_fields(licence: Licence) -> dict[str, Any]:
    return {k: getattr(licence, k) for k in ("reference", "contract_id", "hospital_id", "tool_id",
                                             "status", *LICENCE_FIELDS)}


def end_licence_early(session: Session, *, actor: Actor, clock: Clock, licence_id: int, last_day: date,
                      reason: str) -> Licence:
    """End a call-off before its term: ``last_day`` is its new (inclusive) end; decisions after it
    are denied (LICENCE_NOT_IN_FORCE). The old end stays in its history."""
    licence = session.get(Licence, licence_id)
    if licence is None:
        raise NotFound(f"no licence {licence_id}")
    if not licence.starts_on <= last_day < licence.ends_on:
        raise ValidationFailed("invalid last day", {
            "ends_on": f"the last day must lie from {licence.starts_on} up to before {licence.ends_on}"})
    return amend_licence(session, actor=actor, clock=clock, licence_id=licence_id, changes={"ends_on": last_day},
                         message=reason or "ended early", action="end_early")


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
