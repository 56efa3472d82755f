"""Staff API of the procurement workspace: framework contracts, call-off licences, extension options,
cost allocation, onboarding and offboarding. The GET routes of contracts and licences are the
workspace's generic ones (registry/api/objects.py); these add the changes, each one service call."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import jsonify, request
from pydantic import BaseModel, Field

from registry.api import blueprint
from registry.api.auth import current_actor, parse_body, requires
from registry.api.openapi import document
from registry.edge import db, registry
from registry.imports import CSV_TYPE, XLSX_TYPE, read_table
from registry.permissions import Permission
from registry.schemas import _Strict
from registry.scope import scope_of
from registry.services import allocation as allocation_service
from registry.services import bulk_import
from registry.services import contracts as service
from registry.services import hospitals as hospital_service
from registry.services.errors import ValidationFailed
from registry.validation import Day
from registry.workspace.base import Names, get_row
from registry.workspace.types.contracts import CONTRACTS, LICENCES, ContractOut, LicenceOut

Cents = Annotated[int, Field(ge=0, le=10**13)]
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Ura = Annotated[str, Field(pattern=r"^[0-9]{8}$")]
Note = Annotated[str, Field(max_length=500)]


class TierIn(_Strict):
    from_studies: Annotated[int, Field(ge=1, le=10**9)]
    unit_price_cents: Cents


class ContractToolIn(_Strict):
    tool_id: int
    unit_price_cents: Cents = 0
    overage_price_cents: Cents = 0
    annual_fee_cents: Cents = 0
    minimum_commitment_cents: Cents = 0
    tiers: Annotated[list[TierIn], Field(max_length=20)] = []


class ExtensionOptionIn(_Strict):
    months: Annotated[int, Field(ge=1, le=120)]
    notice_days: Annotated[int, Field(ge=0, le=730)] = 0


class _ContractTerms(_Strict):
    """The fields a contract has beyond its identity; all optional in a PATCH."""

    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    buyer_ids: Annotated[list[int], Field(max_length=500)] | None = None
    tools: Annotated[list[ContractToolIn], Field(max_length=50)] | None = None
    extension_options: Annotated[list[ExtensionOptionIn], Field(max_length=10)] | None = None
    ceiling_studies: Annotated[int, Field(ge=0)] | None = None
    ceiling_cents: Cents | None = None
    split_rule: Literal["equal", "fixed", "pro_rata"] | None = None
    split_shares: Annotated[dict[Ura, Annotated[int, Field(ge=0, le=10_000)]], Field(max_length=500)] | None = None
    vat_bp: Annotated[int, Field(ge=0, le=10_000)] | None = None
    indexation_bp: Annotated[int, Field(ge=-9_999, le=10_000)] | None = None
    indexation_on: Day | None = None


class ContractIn(_ContractTerms):
    reference: Ref
    title: Annotated[str, Field(min_length=1, max_length=200)]
    vendor_id: int
    starts_on: Day
    ends_on: Day
    buyer_ids: Annotated[list[int], Field(max_length=500)] = []
    tools: Annotated[list[ContractToolIn], Field(max_length=50)] = []


class ContractPatch(_ContractTerms):
    note: Note = ""


class ExtensionIn(_Strict):
    option_index: Annotated[int, Field(ge=0, le=9)] | None = None
    note: Note = ""


class LicenceIn(_Strict):
    reference: Ref
    contract_id: int
    hospital_id: int
    tool_id: int
    starts_on: Day
    ends_on: Day
    quota_limit: Annotated[int, Field(ge=0)] | None = None
    quota_period: Literal["term", "year", "month"] = "term"
    on_quota_exhausted: Literal["deny", "overage"] = "deny"


class LicencePatch(_Strict):
    starts_on: Day | None = None
    ends_on: Day | None = None
    quota_limit: Annotated[int, Field(ge=0)] | None = None
    quota_period: Literal["term", "year", "month"] | None = None
    on_quota_exhausted: Literal["deny", "overage"] | None = None
    note: Note = ""


class ImportedOut(BaseModel):
    id: int
    reference: str


class LicenceImportOut(BaseModel):
    created: list[ImportedOut]
    total: int


class AllocationQuery(BaseModel):
    contract: int = Field(description="the framework contract's id")
    period: str = Field(description="2026, 2026-Q3 or 2026-07", max_length=7)


class AllocationLineOut(BaseModel):
    hospital: dict[str, Any]
    amount_cents: int
    explanation: list[str]


class AllocationOut(BaseModel):
    contract: dict[str, Any]
    period: str
    starts_on: Day
    ends_on: Day
    currency: str
    vat_bp: int
    total_cents: int
    volume: dict[str, int]
    lines: list[AllocationLineOut]


class CallOffIn(_Strict):
    contract_id: int
    tool_ids: Annotated[list[int], Field(max_length=50)] = []
    quota_limit: Annotated[int, Field(ge=0)] | None = None
    quota_period: Literal["term", "year", "month"] = "year"
    on_quota_exhausted: Literal["deny", "overage"] = "deny"


class OnboardIn(_Strict):
    ura: Ura
    name: Annotated[str, Field(min_length=1, max_length=200)]
    agb: Annotated[str, Field(pattern=r"^[0-9]{8}$")] | None = None
    kvk: Annotated[str, Field(pattern=r"^[0-9]{8}$")] | None = None
    starts_on: Day | None = None
    calloffs: Annotated[list[CallOffIn], Field(max_length=50)] = []
    preview: bool = False


class OffboardIn(_Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    last_day: Day | None = None
    preview: bool = False


def _contract_changes(body: _ContractTerms) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"note"})
    if "tools" in changes:
        changes["tools"] = [t.model_dump() for t in body.tools or []]
    return changes


def _public(otype, row):  # noqa: ANN001, ANN202
    return jsonify(otype.to_public(row, Names(db())))


@blueprint.post("/contracts")
@document("Create a framework contract with its buyers, tools and price schedules", "Staff: contracts",
          body=ContractIn, response=ContractOut)
@requires(Permission.CONTRACTS_WRITE)
def contracts_create():
    body = parse_body(ContractIn)
    session = db()
    changes = _contract_changes(body)
    for key in ("reference", "title", "vendor_id", "starts_on", "ends_on", "buyer_ids", "tools"):
        changes.pop(key, None)
    contract = service.create_contract(
        session, actor=current_actor(), clock=registry().clock, reference=body.reference, title=body.title,
        vendor_id=body.vendor_id, starts_on=body.starts_on, ends_on=body.ends_on, buyer_ids=body.buyer_ids,
        tools=[t.model_dump() for t in body.tools], **changes)
    session.commit()
    return _public(CONTRACTS, contract), 201


@blueprint.patch("/contracts/<key>")
@document("Amend a framework contract (only the fields named)", "Staff: contracts", body=ContractPatch,
          response=ContractOut)
@requires(Permission.CONTRACTS_WRITE)
def contracts_amend(key: str):
    body = parse_body(ContractPatch)
    session = db()
    row = get_row(session, actor=current_actor(), otype=CONTRACTS, key=key)
    contract = service.amend_contract(session, actor=current_actor(), clock=registry().clock,
                                      contract_id=row.id, changes=_contract_changes(body), message=body.note)
    session.commit()
    return _public(CONTRACTS, contract)


@blueprint.post("/contracts/<key>/extensions")
@document("Exercise an extension option: the term and the call-offs that ran to its end are extended",
          "Staff: contracts", body=ExtensionIn, response=ContractOut)
@requires(Permission.CONTRACTS_WRITE)
def contracts_extend(key: str):
    body = parse_body(ExtensionIn)
    session = db()
    row = get_row(session, actor=current_actor(), otype=CONTRACTS, key=key)
    service.exercise_extension(session, actor=current_actor(), clock=registry().clock, contract_id=row.id,
                               option_index=body.option_index, note=body.note)
    session.commit()
    return _public(CONTRACTS, row), 201


@blueprint.post("/licences")
@document("Create a call-off licence under a framework contract", "Staff: licences", body=LicenceIn,
          response=LicenceOut)
@requires(Permission.CONTRACTS_WRITE)
def licences_create():
    body = parse_body(LicenceIn)
    session = db()
    licence = service.create_licence(session, actor=current_actor(), clock=registry().clock, **body.model_dump())
    session.commit()
    return _public(LICENCES, licence), 201


@blueprint.post("/licences/import")
@document("Import call-off licences from a table (text/csv, comma or semicolon, or an XLSX workbook's first "
          "sheet) with the columns reference, contract, hospital, tool, starts_on, ends_on, quota_limit, "
          "quota_period, on_quota_exhausted: all lines or none; error.fields names each bad line",
          "Staff: licences", response=LicenceImportOut, body_type=CSV_TYPE)
@requires(Permission.CONTRACTS_WRITE)
def licences_import():
    if request.mimetype not in (CSV_TYPE, XLSX_TYPE):
        raise ValidationFailed("unsupported content type", {"Content-Type": f"{CSV_TYPE} or {XLSX_TYPE}"})
    table = read_table(request.get_data())
    session = db()
    created = bulk_import.import_licences(session, actor=current_actor(), clock=registry().clock, rows=table.rows,
                                          columns=table.columns, lines=table.lines, errors=table.errors)
    session.commit()
    return jsonify({"created": [{"id": lic.id, "reference": lic.reference} for lic in created],
                    "total": len(created)}), 201


@blueprint.patch("/licences/<key>")
@document("Amend a call-off licence (term, quota); an earlier end date ends it early", "Staff: licences",
          body=LicencePatch, response=LicenceOut)
@requires(Permission.CONTRACTS_WRITE)
def licences_amend(key: str):
    body = parse_body(LicencePatch)
    session = db()
    row = get_row(session, actor=current_actor(), otype=LICENCES, key=key)
    changes = body.model_dump(exclude_unset=True, exclude={"note"})
    licence = service.amend_licence(session, actor=current_actor(), clock=registry().clock, licence_id=row.id,
                                    changes=changes, message=body.note)
    session.commit()
    return _public(LICENCES, licence)


def query_args(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, reported per field
        fields = {".".join(str(p) for p in e["loc"]): e["msg"] for e in getattr(exc, "errors", lambda: [])()}
        raise ValidationFailed("invalid query", fields or {"query": "invalid"}) from None


def own_hospital(actor) -> int | None:  # noqa: ANN001
    """A hospital's own user sees only the hospital's own line of an allocation or statement."""
    scope = scope_of(db(), actor)
    return scope.organisation_id if scope.kind == "hospital" else None


@blueprint.get("/allocations")
@document("What each hospital owes under a framework contract for a period (cents, excluding VAT)",
          "Staff: procurement", query=AllocationQuery, response=AllocationOut)
@requires(Permission.CONTRACTS_READ)
def allocations():
    query = query_args(AllocationQuery)
    actor = current_actor()
    result = allocation_service.allocate_contract(db(), actor=actor, contract_id=query.contract,
                                                  period=query.period)
    return jsonify(result.view(only=own_hospital(actor)))


@blueprint.post("/hospitals")
@document("Onboard a hospital (or preview it): organisation, call-offs, and a checklist of what is missing",
          "Staff: procurement", body=OnboardIn)
@requires(Permission.ORGANISATIONS_WRITE)
def hospitals_onboard():
    body = parse_body(OnboardIn)
    session = db()
    plan = hospital_service.onboard_hospital(
        session, actor=current_actor(), clock=registry().clock, ura=body.ura, name=body.name, agb=body.agb,
        kvk=body.kvk, starts_on=body.starts_on, preview=body.preview,
        calloffs=[c.model_dump() for c in body.calloffs])
    session.commit()  # a preview changed nothing (its savepoint was rolled back)
    return jsonify(plan), 200 if body.preview else 201


@blueprint.post("/hospitals/<ura>/offboard")
@document("Offboard a hospital (or preview it): licences ended, gateways revoked, agreements terminating",
          "Staff: procurement", body=OffboardIn)
@requires(Permission.ORGANISATIONS_WRITE)
def hospitals_offboard(ura: str):
    body = parse_body(OffboardIn)
    session = db()
    plan = hospital_service.offboard_hospital(session, actor=current_actor(), clock=registry().clock,
                                              ura=ura[:8], reason=body.reason, last_day=body.last_day,
                                              preview=body.preview)
    session.commit()  # a preview changed nothing (its savepoint was rolled back)
    return jsonify(plan)
