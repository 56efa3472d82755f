"""Onboarding and offboarding a hospital: each one guided action with a preview of what changes.

A preview runs the very same steps inside a savepoint and rolls them back, so what it shows is
exactly what the action would do (no second copy of the rules that could disagree with it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.agreements import DataProcessingAgreement
from registry.db.contracts import ContractBuyer, ContractTool, FrameworkContract, Licence
from registry.db.organisations import Gateway, Organisation
from registry.db.tools import Tool
from registry.domain.terms import in_force, term_date
from registry.permissions import Permission
from registry.services import organisations
from registry.services._rows import create_row, update_row
from registry.services.contracts import create_licence
from registry.services.errors import NotFound, ValidationFailed


class _Preview(Exception):
    """Raised inside the savepoint to roll a preview back, carrying its plan out."""

    def __init__(self, plan: dict[str, Any]):
        super().__init__("preview")
        self.plan = plan


def _run(session: Session, preview: bool, steps) -> dict[str, Any]:  # noqa: ANN001
    try:
        with session.begin_nested():
            plan = steps()
            session.flush()
            if preview:
                raise _Preview(plan)
    except _Preview as done:
        session.expire_all()
        return {**done.plan, "preview": True}
    return {**plan, "preview": False}


def checklist(session: Session, hospital: Organisation, day: date) -> list[dict[str, Any]]:
    """What a hospital still needs before its first permit, and whose work each item is."""
    agreements = list(session.scalars(select(DataProcessingAgreement).where(
        DataProcessingAgreement.controller_id == hospital.id)))
    signed = [a for a in agreements if a.status == "signed" and in_force(a.effective_on, a.ends_on, day)]
    gateways = list(session.scalars(select(Gateway).where(Gateway.hospital_id == hospital.id,
                                                          Gateway.status == "active")))
    licences = list(session.scalars(select(Licence).where(Licence.hospital_id == hospital.id,
                                                          Licence.status == "active")))
    current = [lic for lic in licences if in_force(lic.starts_on, lic.ends_on, day)]
    return [
        {"item": "licence", "owner": "procurement", "done": bool(current),
         "detail": f"{len(current)} call-off licence(s) in force on {day}"},
        {"item": "agreement", "owner": "legal", "done": bool(signed),
         "detail": (f"signed data-processing agreement {signed[0].reference}" if signed
                    else "a signed data-processing agreement (verwerkersovereenkomst) in force")},
        {"item": "gateway", "owner": "admin", "done": bool(gateways),
         "detail": (f"active gateway {gateways[0].name}" if gateways else "a registered gateway credential")},
        {"item": "clinical_deployment", "owner": "clinical governance", "done": False,
         "detail": "a clinical deployment per tool (human oversight, AI Act Art. 26); not yet kept in the registry"},
    ]


def onboard_hospital(session: Session, *, actor: Actor, clock: Clock, ura: str, name: str,
                     calloffs: list[dict[str, Any]], agb: str | None = None, kvk: str | None = None,
                     starts_on: date | None = None, preview: bool = False) -> dict[str, Any]:
    """Create the hospital (or reactivate one that left, under the same URA, its history kept),
    make it a buyer of the chosen frameworks and give it call-offs under them.

    ``calloffs``: ``{"contract_id", "tool_ids" (default: every tool of the contract),
    "quota_limit", "quota_period", "on_quota_exhausted"}``. Returns the plan: the organisation,
    the licences and the checklist of what is still missing before its first permit.
    """
    actor.require(Permission.ORGANISATIONS_WRITE)  # first: an unauthorised caller learns nothing
    actor.require(Permission.CONTRACTS_WRITE)
    today = term_date(clock.now())
    first_day = starts_on or today

    def steps() -> dict[str, Any]:
        existing = session.scalar(select(Organisation).where(Organisation.ura == ura))
        if existing is None:
            org = organisations.create_organisation(session, actor=actor, clock=clock, kind="hospital", name=name,
                                                    ura=ura, agb=agb, kvk=kvk)
            action = "create"
        elif existing.kind == "hospital" and existing.status == "offboarded":
            org = update_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE,
                             row=existing, changes={"status": "active", "status_since": first_day,
                                                    "status_reason": "onboarded again"},
                             action="reactivate", message="onboarded again under the same URA")
            action = "reactivate"
        else:
            raise ValidationFailed("this URA is already taken", {"ura": f"{existing.name} is {existing.status}"})
        created = []
        for index, item in enumerate(calloffs):
            contract = session.get(FrameworkContract, item.get("contract_id"))
            if contract is None:
                raise ValidationFailed("invalid call-off", {f"calloffs.{index}.contract_id": "no such contract"})
            if session.scalar(select(ContractBuyer.id).where(ContractBuyer.contract_id == contract.id,
                                                             ContractBuyer.organisation_id == org.id)) is None:
                create_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE,
                           row=ContractBuyer(contract_id=contract.id, organisation_id=org.id))
            tool_ids = item.get("tool_ids") or list(session.scalars(
                select(ContractTool.tool_id).where(ContractTool.contract_id == contract.id)))
            for tool_id in tool_ids:
                tool = session.get(Tool, tool_id)
                if tool is None:
                    raise ValidationFailed("invalid call-off", {f"calloffs.{index}.tool_ids": f"no tool {tool_id}"})
                lic = create_licence(
                    session, actor=actor, clock=clock,
                    reference=f"LIC-{tool.slug.upper()}-{ura}-{contract.id}-{first_day:%Y%m%d}",
                    contract_id=contract.id, hospital_id=org.id, tool_id=tool_id,
                    starts_on=max(first_day, contract.starts_on), ends_on=contract.ends_on,
                    quota_limit=item.get("quota_limit"), quota_period=item.get("quota_period", "year"),
                    on_quota_exhausted=item.get("on_quota_exhausted", "deny"))
                created.append({"reference": lic.reference, "contract": contract.reference, "tool": tool.slug,
                                "starts_on": lic.starts_on.isoformat(), "ends_on": lic.ends_on.isoformat(),
                                "quota_limit": lic.quota_limit, "quota_period": lic.quota_period})
        session.flush()
        return {"organisation": {"ura": org.ura, "name": org.name, "action": action},
                "licences": created, "checklist": checklist(session, org, max(today, first_day))}

    return _run(session, preview, steps)


def offboard_hospital(session: Session, *, actor: Actor, clock: Clock, ura: str, reason: str,
                      last_day: date | None = None, preview: bool = False) -> dict[str, Any]:
    """End a hospital's licences (after ``last_day``, default today), revoke its gateways and their
    live tokens, start the termination of its data-processing agreements (their end set to the
    last day; legal completes it: deletion or return of data, GDPR Art. 28(3)(g)), and mark it
    offboarded. Every row keeps its history; the next decision from the hospital is denied."""
    actor.require(Permission.ORGANISATIONS_WRITE)  # first: an unauthorised caller learns nothing
    actor.require(Permission.CONTRACTS_WRITE)
    org = session.scalar(select(Organisation).where(Organisation.ura == ura, Organisation.kind == "hospital"))
    if org is None:
        raise NotFound(f"no hospital with URA {ura}")
    if org.status == "offboarded":
        raise ValidationFailed("already offboarded", {"ura": f"{org.name} left on {org.status_since}"})
    if not reason.strip():
        raise ValidationFailed("a reason is required", {"reason": "is required"})
    last = last_day or term_date(clock.now())
    message = f"hospital offboarded: {reason}"

    def steps() -> dict[str, Any]:
        ended = []
        for lic in session.scalars(select(Licence).where(Licence.hospital_id == org.id,
                                                         Licence.status != "terminated").order_by(Licence.id)):
            changes: dict[str, Any] = {"status": "terminated", "status_reason": message}
            if lic.starts_on <= last < lic.ends_on:
                changes["ends_on"] = last
            update_row(session, actor=actor, clock=clock, permission=Permission.CONTRACTS_WRITE, row=lic,
                       changes=changes, action="terminated", message=message)
            ended.append(lic.reference)
        started = []
        for dpa in session.scalars(select(DataProcessingAgreement).where(
                DataProcessingAgreement.controller_id == org.id,
                DataProcessingAgreement.status.in_(("draft", "in_review", "signed"))).order_by(
                DataProcessingAgreement.id)):
            changes = {"status_reason": f"termination started: {message}"}
            if dpa.ends_on is None or dpa.ends_on > last:
                if dpa.effective_on is None or dpa.effective_on <= last:
                    changes["ends_on"] = last
            update_row(session, actor=actor, clock=clock, permission=Permission.ORGANISATIONS_WRITE, row=dpa,
                       changes=changes, action="terminate_start", message=message)
            started.append(dpa.reference)
        gateways = [g.name for g in session.scalars(select(Gateway).where(Gateway.hospital_id == org.id,
                                                                          Gateway.status != "revoked"))]
        organisations.set_organisation_status(session, actor=actor, clock=clock, organisation_id=org.id,
                                              status="offboarded", reason=reason, on=last)
        return {"organisation": {"ura": org.ura, "name": org.name, "action": "offboard"},
                "last_day": last.isoformat(), "licences_ended": ended, "gateways_revoked": gateways,
                "agreements_terminating": started}

    return _run(session, preview, steps)
