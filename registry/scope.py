"""Who sees what: the one rule, applied to every page, list, search, export and API route.

A person belongs to an organisation — a hospital, a vendor, a platform operator — or to none
(national staff; members of the consortium count as national staff too). A person of a
hospital or a vendor sees only what concerns their own organisation, whatever their role; national
staff see everything their roles allow. Roles say *what kind* of thing one may read or change
(``registry.permissions``); the scope says *which* of those things. NetBox's ``restrict()`` is the
model: one function turns the actor into a query filter, used for lists, detail pages and the
re-check after a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.agreements import DataProcessingAgreement, SubProcessor
from registry.db.consent import PatientObjection
from registry.db.audit import AuditEntry
from registry.db.changes import ChangeRecord
from registry.db.clinical import Deployment, FieldSafetyNotice, Incident
from registry.db.contracts import ContractBuyer, FrameworkContract, Licence
from registry.db.decisions import Decision
from registry.db.identity import IdentityProvider
from registry.db.organisations import Gateway, Organisation
from registry.db.tools import Tool, ToolVersion
from registry.db.users import User

NATIONAL = "national"


@dataclass(frozen=True)
class Scope:
    """``kind`` is ``national`` (sees all) or the kind of the person's organisation."""

    kind: str
    organisation_id: int | None = None

    @property
    def national(self) -> bool:
        return self.kind == NATIONAL


def scope_of(session: Session, actor: Actor) -> Scope:
    """The actor's scope. Gateways act for their hospital; the system and national staff see all."""
    if actor.kind == "gateway":
        return Scope("hospital", actor.hospital_id)
    if actor.kind == "system" or actor.organisation_id is None:
        return Scope(NATIONAL)
    org = session.get(Organisation, actor.organisation_id)
    if org is None or org.kind == "consortium":
        return Scope(NATIONAL)
    return Scope(org.kind, org.id)


def _own_tools(org_id: int) -> Select:
    return select(Tool.id).where(or_(Tool.vendor_id == org_id, Tool.operator_id == org_id))


def _hospital_clause(model: Any, org_id: int) -> Any:
    if model is Organisation:
        return Organisation.id == org_id
    if model in (Gateway, Licence, Decision):
        return model.hospital_id == org_id
    if model is FrameworkContract:
        return FrameworkContract.id.in_(select(ContractBuyer.contract_id)
                                        .where(ContractBuyer.organisation_id == org_id))
    if model is DataProcessingAgreement:
        return DataProcessingAgreement.controller_id == org_id
    if model is PatientObjection:
        return PatientObjection.hospital_id == org_id
    if model in (Tool, ToolVersion, FieldSafetyNotice):
        return None  # the tools in use (and their safety notices) are public facts
    if model in (Deployment, Incident):
        return model.hospital_id == org_id
    if model in (User, IdentityProvider):
        return model.organisation_id == org_id
    if model in (ChangeRecord,):
        return ChangeRecord.on_behalf_of_id == org_id
    if model is AuditEntry:
        return AuditEntry.on_behalf_of_id == org_id
    raise LookupError(f"no scope rule for {model.__name__}")


def _supplier_clause(model: Any, org_id: int) -> Any:
    """A vendor or platform operator: its own organisation, its tools, the contracts and licences
    for them, the agreements it is processor or approved sub-processor under, decisions on its tools."""
    if model is Organisation:
        return Organisation.id == org_id
    if model is Tool:
        return Tool.id.in_(_own_tools(org_id))
    if model is ToolVersion:
        return ToolVersion.tool_id.in_(_own_tools(org_id))
    if model is FrameworkContract:
        return FrameworkContract.vendor_id == org_id
    if model is Licence:
        return Licence.tool_id.in_(_own_tools(org_id))
    if model is DataProcessingAgreement:
        return or_(DataProcessingAgreement.processor_id == org_id,
                   DataProcessingAgreement.id.in_(select(SubProcessor.agreement_id)
                                                  .where(SubProcessor.organisation_id == org_id)))
    if model is PatientObjection:
        return PatientObjection.id.is_(None)  # patients' objections are the hospital's business only
    if model is Decision:
        return Decision.tool_slug.in_(select(Tool.slug).where(Tool.id.in_(_own_tools(org_id))))
    if model in (Deployment, Incident):
        return model.tool_id.in_(_own_tools(org_id))  # the vendor learns of use and incidents
    if model is FieldSafetyNotice:
        return None
    if model is Gateway:
        return Gateway.id.is_(None)  # hospitals' machines are none of a supplier's business
    if model in (User, IdentityProvider):
        return model.organisation_id == org_id
    if model is ChangeRecord:
        return ChangeRecord.on_behalf_of_id == org_id
    if model is AuditEntry:
        return AuditEntry.on_behalf_of_id == org_id
    raise LookupError(f"no scope rule for {model.__name__}")


def visibility(scope: Scope, model: Any) -> Any:
    """The SQL condition for the rows of ``model`` that ``scope`` may see (None: all of them)."""
    if scope.national:
        return None
    if scope.kind == "hospital":
        return _hospital_clause(model, scope.organisation_id)
    return _supplier_clause(model, scope.organisation_id)


def restrict(stmt: Select, scope: Scope, model: Any) -> Select:
    """``stmt`` limited to what ``scope`` may see of ``model``."""
    clause = visibility(scope, model)
    return stmt if clause is None else stmt.where(clause)


def can_see(session: Session, scope: Scope, model: Any, row: Any) -> bool:
    """The same rule for one loaded row (the re-check after a lookup or a write)."""
    clause = visibility(scope, model)
    if clause is None:
        return True
    pk = model.__table__.primary_key.columns.values()[0]
    return session.scalar(select(pk).where(pk == getattr(row, pk.key), clause)) is not None
