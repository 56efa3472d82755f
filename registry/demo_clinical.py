"""The demo world's clinical governance: approved deployments for every hospital and licensed tool,
one new fictional hospital whose deployment is still incomplete, its two clinical owners, a
serious incident with its open duties, and a field-safety notice for the suspended demo version.

Called once from ``registry.demo.seed_demo`` (before the demo's own decisions, which need the
deployments), so it shares that function's idempotence: nothing runs when the world exists.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.contracts import ContractBuyer, FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.services import (agreements, contracts, deployments, gateways, incidents, organisations,
                               users)
from registry.services._rows import create_row

WEST = ("Demo Ziekenhuis West", "99000105")
# Two clinical owners at West: one filled in the checklist, so only the other may approve it.
WEST_USERS = [("radioloog@west.demo.aifi.nl", "clinical_owner", "Radioloog (Demo Ziekenhuis West)"),
              ("klinisch@west.demo.aifi.nl", "clinical_owner", "Klinisch eigenaar (Demo Ziekenhuis West)")]
CLINICAL_USERS = [("klinisch@oost.demo.aifi.nl", "clinical_owner", "Demo Ziekenhuis Oost")]


def checklist(versions: list[str], year: int, *, acceptance: bool = True) -> dict:
    """A filled-in deployer's checklist (all values illustrative)."""
    values = {
        "versions": versions, "ifu_document": "Instructions for use (illustrative)",
        "ifu_sha256": "0" * 63 + "1",
        "overseers": [{"name": "Dr. J. de Vries (illustrative)", "role": "radiologist",
                       "trained_on": date(year - 1, 11, 15).isoformat()}],
        "dpia_reference": f"DPIA-{year - 1}-AI (illustrative)", "dpia_date": date(year - 1, 10, 1),
        "works_council_informed_on": date(year - 1, 10, 15),
        "monitoring_plan": "Monthly review of disagreements with radiologists; quarterly report to the "
                           "clinical owner (illustrative).",
        "art27_applicable": False, "art49_applicable": False,
    }
    if acceptance:
        values.update(acceptance_cases=150, acceptance_agreement_pct=93, acceptance_date=date(year - 1, 12, 1),
                      acceptance_by="Klinisch fysicus (illustrative)")
    return values


def seed_clinical(session: Session, *, clock: Clock, password: str) -> list[tuple[str, str]]:
    """Seed the clinical part of the demo world; returns the demo logins it created."""
    preparer, owner = Actor.system("demo-seed"), Actor.system("demo-clinical-owner")
    kw = {"actor": preparer, "clock": clock}
    today = term_date(clock.now())
    year = today.year
    default = {v.tool_id: v.version for v in session.scalars(select(ToolVersion).where(ToolVersion.is_default))}
    # The deployments cover every version the hospitals have used (RBfracture's suspended 2.3-demo
    # too: its suspension is then the one reason a request for it is refused).
    every: dict[int, list[str]] = {}
    for v in session.scalars(select(ToolVersion)):
        every.setdefault(v.tool_id, []).append(v.version)
    pairs = sorted(set(session.execute(select(Licence.hospital_id, Licence.tool_id))))
    for hospital_id, tool_id in pairs:
        dep = deployments.create_deployment(session, **kw, hospital_id=hospital_id, tool_id=tool_id,
                                            **checklist(every[tool_id], year))
        deployments.approve_deployment(session, actor=owner, clock=clock, deployment_id=dep.id,
                                       note="go-live approved (illustrative)")

    # A new fictional hospital: licensed and under a signed agreement, but its deployment of
    # BoneXpert lacks the local acceptance test, so clinical care is DEPLOYMENT_NOT_APPROVED.
    west = organisations.create_organisation(session, **kw, kind="hospital", name=WEST[0], ura=WEST[1],
                                             illustrative=True)
    bonexpert = session.scalar(select(Tool).where(Tool.slug == "bonexpert"))
    contract = session.scalar(select(FrameworkContract).where(
        FrameworkContract.reference == "AIFI-FW-BONEXPERT"))
    create_row(session, **kw, permission=Permission.CONTRACTS_WRITE,
               row=ContractBuyer(contract_id=contract.id, organisation_id=west.id))
    contracts.create_licence(session, **kw, reference=f"AIFI-LIC-BONEXPERT-105-{year}", contract_id=contract.id,
                             hospital_id=west.id, tool_id=bonexpert.id, starts_on=contract.starts_on,
                             ends_on=contract.ends_on, quota_limit=1200, quota_period="year",
                             on_quota_exhausted="deny", illustrative=True)
    vendor = session.get(Organisation, bonexpert.vendor_id)
    agreements.create_agreement(
        session, **kw, reference=f"VWO-{WEST[1]}-1", controller_id=west.id, processor_id=bonexpert.operator_id,
        purposes=["clinical-care", "quality-assurance"], effective_on=date(year, 1, 1), ends_on=None,
        status="signed", signed_on=date(year - 1, 12, 15),
        subprocessors=[{"name": vendor.name, "organisation_id": vendor.id, "role": "AI model BoneXpert",
                        "location": vendor.country, "approved_on": date(year, 1, 1)}],
        subject="AI analysis of radiology studies via the AIFI gateway and central cloud (illustrative)")
    gateways.register_gateway(session, **kw, hospital_id=west.id, name=f"gateway-{WEST[1]}")
    logins, people = [], {}
    for email, role, name in WEST_USERS:
        people[email], _ = users.create_user(session, **kw, email=email, roles=[role], password=password,
                                             name=name, organisation_id=west.id)
        logins.append((email, role))
    oost = session.scalar(select(Organisation).where(Organisation.ura == "99000103"))
    for email, role, org_name in CLINICAL_USERS:
        users.create_user(session, **kw, email=email, roles=[role], password=password,
                          name=f"Klinisch eigenaar ({org_name})", organisation_id=oost.id)
        logins.append((email, role))
    radioloog = Actor.for_user(people[WEST_USERS[0][0]], request_id="demo-seed")
    deployments.create_deployment(session, actor=radioloog, clock=clock, hospital_id=west.id,
                                  tool_id=bonexpert.id,
                                  **checklist([default[bonexpert.id]], year, acceptance=False))

    # A fictional serious incident at Oost with its legal duties, one of them overdue, and a
    # field-safety notice for the suspended demo version (not real events).
    rbfracture = session.scalar(select(Tool).where(Tool.slug == "rbfracture"))
    incidents.report_incident(session, actor=owner, clock=clock, kind="serious_incident",
                              severity="other", hospital_id=oost.id, tool_id=rbfracture.id,
                              description="Missed fracture found on review; no lasting harm (fictional).",
                              occurred_on=today - timedelta(days=5), aware_on=today - timedelta(days=4),
                              action="none")
    old = session.scalar(select(ToolVersion).where(ToolVersion.tool_id == rbfracture.id,
                                                   ToolVersion.version == "2.3-demo"))
    incidents.record_field_safety_notice(
        session, actor=owner, clock=clock, reference="FSN-RBF-DEMO-1", tool_id=rbfracture.id,
        versions=[old.version], title="Field-safety notice for version 2.3-demo (fictional)",
        issued_on=today - timedelta(days=60), summary="Illustrative notice; not a real safety notice.")
    return logins
