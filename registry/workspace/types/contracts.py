"""Framework contracts and their call-off licences (read-only here; the procurement workspace adds
their workflows to these same pages and routes)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from registry.db.contracts import (ContractBuyer, ContractExtension, ContractStatus, ContractTool, FrameworkContract, Licence,
                                   LicenceStatus)
from registry.permissions import Permission
from registry.scope import restrict
from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, Related, contains, register
from registry.workspace.types.gateways import _int_filter, hospital_options
from registry.workspace.types.organisations import _options


class ContractOut(BaseModel):
    id: int
    reference: str
    title: str
    vendor: dict[str, Any]
    extends_id: int | None
    starts_on: date
    ends_on: date
    extension_options: list[dict[str, Any]]
    currency: str
    status: str
    status_reason: str | None
    buyers: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    illustrative: bool
    ceiling_studies: int | None = None
    ceiling_cents: int | None = None
    split_rule: str = "equal"
    split_shares: dict[str, int] = {}
    vat_bp: int = 2100
    indexation_bp: int = 0
    indexation_on: date | None = None
    extensions: list[dict[str, Any]] = []


class LicenceOut(BaseModel):
    id: int
    reference: str
    contract: dict[str, Any]
    hospital: dict[str, Any]
    tool: str
    starts_on: date
    ends_on: date
    quota_limit: int | None
    quota_period: str
    on_quota_exhausted: str
    status: str
    status_reason: str | None
    illustrative: bool


def _org(names, org_id: int | None) -> dict[str, Any] | None:  # noqa: ANN001
    o = names.orgs.get(org_id) if org_id is not None else None
    return None if o is None else {"id": o.id, "name": o.name, "ura": o.ura}


def buyers(contract: FrameworkContract) -> list[int]:
    return list(object_session(contract).scalars(
        select(ContractBuyer.organisation_id).where(ContractBuyer.contract_id == contract.id)))


def contract_tools(contract: FrameworkContract) -> list[ContractTool]:
    return list(object_session(contract).scalars(
        select(ContractTool).where(ContractTool.contract_id == contract.id)))


def extensions(contract: FrameworkContract) -> list[ContractExtension]:
    return list(object_session(contract).scalars(
        select(ContractExtension).where(ContractExtension.contract_id == contract.id)
        .order_by(ContractExtension.option_index)))


def _contract_public(c: FrameworkContract, names) -> dict[str, Any]:  # noqa: ANN001
    return ContractOut(
        id=c.id, reference=c.reference, title=c.title, vendor=_org(names, c.vendor_id), extends_id=c.extends_id,
        starts_on=c.starts_on, ends_on=c.ends_on, extension_options=c.extension_options or [],
        currency=c.currency, status=c.status, status_reason=c.status_reason, illustrative=c.illustrative,
        buyers=[_org(names, b) for b in buyers(c)],
        tools=[{"tool": names.tools[t.tool_id].slug, "tool_id": t.tool_id, "unit_price_cents": t.unit_price_cents,
                "overage_price_cents": t.overage_price_cents, "annual_fee_cents": t.annual_fee_cents,
                "minimum_commitment_cents": t.minimum_commitment_cents, "tiers": t.tiers or []}
               for t in contract_tools(c)],
        ceiling_studies=c.ceiling_studies, ceiling_cents=c.ceiling_cents, split_rule=c.split_rule,
        split_shares=c.split_shares or {}, vat_bp=c.vat_bp, indexation_bp=c.indexation_bp,
        indexation_on=c.indexation_on,
        extensions=[{"option_index": e.option_index, "months": e.months, "previous_ends_on": e.previous_ends_on,
                     "new_ends_on": e.new_ends_on, "exercised_by": e.exercised_by, "exercised_at": e.exercised_at,
                     "note": e.note} for e in extensions(c)]).model_dump(mode="json")


def _contract_fields(c: FrameworkContract, names) -> list:  # noqa: ANN001
    prices = [f"{names.tool(t.tool_id)}: {t.unit_price_cents / 100:.2f} {c.currency}"
              for t in contract_tools(c)]
    return [
        (_l("Title"), c.title, "text"), (_l("Vendor"), c.vendor_id, "org"),
        (_l("Starts on"), c.starts_on, "day"), (_l("Ends on (inclusive)"), c.ends_on, "day"),
        (_l("Status"), ("status", c.status), "badge"), (_l("Reason"), c.status_reason, "text"),
        (_l("Buyers"), [names.org(b) for b in buyers(c)], "lines"),
        (_l("Price per study"), prices, "lines"),
        (_l("Extends"), c.extends_id and _extends_link(c), "link"),
    ]


def _extends_link(c: FrameworkContract) -> tuple[str, str] | None:
    from flask import url_for

    other = object_session(c).get(FrameworkContract, c.extends_id)
    return (url_for("web.contracts_detail", key=other.id), other.reference) if other else None


def _contract_related(session, scope, c):  # noqa: ANN001, ANN202
    return [Related(_l("Call-off licences"), "licences", list(session.scalars(restrict(
        select(Licence).where(Licence.contract_id == c.id).order_by(Licence.reference), scope, Licence))))]


CONTRACTS = register(ObjectType(
    key="contracts", model=FrameworkContract, singular=_l("framework contract"),
    plural=_l("Framework contracts"), read=Permission.CONTRACTS_READ, write=Permission.CONTRACTS_WRITE,
    columns=[
        Column("reference", _l("Reference"), sort=FrameworkContract.reference, kind="link"),
        Column("title", _l("Title"), sort=FrameworkContract.title),
        Column("vendor_id", _l("Vendor"), kind="org"),
        Column("starts_on", _l("Starts on"), sort=FrameworkContract.starts_on, kind="day"),
        Column("ends_on", _l("Ends on"), sort=FrameworkContract.ends_on, kind="day"),
        Column("status", _l("Status"), sort=FrameworkContract.status, kind="badge", enum="status"),
    ],
    filters=[Filter("status", _l("Status"), lambda s, v: s.where(FrameworkContract.status == v),
                    options=_options("status", ContractStatus), kind="select")],
    search=lambda q: or_(FrameworkContract.reference == q, contains(FrameworkContract.reference, q),
                         contains(FrameworkContract.title, q)),
    default_sort="reference", title=lambda c: f"{c.reference} — {c.title}",
    public=ContractOut, to_public=_contract_public, fields=_contract_fields, related=_contract_related,
    create_endpoint="web.contracts_new",
    history_refs=lambda c: [("framework_contracts", str(c.id))] + [
        ("contract_tools", str(t.id)) for t in contract_tools(c)] + [
        ("contract_extensions", str(e.id)) for e in extensions(c)],
))


def _licence_public(lic: Licence, names) -> dict[str, Any]:  # noqa: ANN001
    contract = object_session(lic).get(FrameworkContract, lic.contract_id)
    return LicenceOut(
        id=lic.id, reference=lic.reference, contract={"id": contract.id, "reference": contract.reference},
        hospital=_org(names, lic.hospital_id), tool=names.tools[lic.tool_id].slug, starts_on=lic.starts_on,
        ends_on=lic.ends_on, quota_limit=lic.quota_limit, quota_period=lic.quota_period,
        on_quota_exhausted=lic.on_quota_exhausted, status=lic.status, status_reason=lic.status_reason,
        illustrative=lic.illustrative).model_dump(mode="json")


def _licence_fields(lic: Licence, names) -> list:  # noqa: ANN001
    from flask import url_for

    contract = object_session(lic).get(FrameworkContract, lic.contract_id)
    return [
        (_l("Framework contract"), (url_for("web.contracts_detail", key=contract.id), contract.reference), "link"),
        (_l("Hospital"), lic.hospital_id, "org"), (_l("Tool"), lic.tool_id, "tool"),
        (_l("Starts on"), lic.starts_on, "day"), (_l("Ends on (inclusive)"), lic.ends_on, "day"),
        (_l("Quota (studies)"), lic.quota_limit, "text"),
        (_l("Quota period"), ("quota_period", lic.quota_period), "badge"),
        (_l("When the quota is used up"), ("on_quota_exhausted", lic.on_quota_exhausted), "badge"),
        (_l("Status"), ("status", lic.status), "badge"), (_l("Reason"), lic.status_reason, "text"),
    ]


LICENCES = register(ObjectType(
    key="licences", model=Licence, singular=_l("licence"), plural=_l("Licences"),
    read=Permission.CONTRACTS_READ, write=Permission.CONTRACTS_WRITE,
    columns=[
        Column("reference", _l("Reference"), sort=Licence.reference, kind="link"),
        Column("hospital_id", _l("Hospital"), kind="org"),
        Column("tool_id", _l("Tool"), kind="tool"),
        Column("starts_on", _l("Starts on"), sort=Licence.starts_on, kind="day"),
        Column("ends_on", _l("Ends on"), sort=Licence.ends_on, kind="day"),
        Column("quota_limit", _l("Quota"), sort=Licence.quota_limit),
        Column("status", _l("Status"), sort=Licence.status, kind="badge", enum="status"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(Licence.hospital_id), options=hospital_options,
               kind="select"),
        Filter("status", _l("Status"), lambda s, v: s.where(Licence.status == v),
               options=_options("status", LicenceStatus), kind="select"),
    ],
    search=lambda q: or_(Licence.reference == q, contains(Licence.reference, q)),
    default_sort="reference", title=lambda lic: lic.reference,
    public=LicenceOut, to_public=_licence_public, fields=_licence_fields, create_endpoint="web.licences_new",
))
