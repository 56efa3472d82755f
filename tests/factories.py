"""Small factories: a complete, permitting world for one hospital and tool, built through the
services (so every row also has its change record), with knobs to break each condition."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.auth.tokens import GATEWAY_SCOPES, issue_gateway_token
from registry.clock import Clock
from registry.permissions import Permission
from registry.schemas import DecisionIn
from registry.services import agreements, contracts, deployments, gateways, organisations, tools

_seq = itertools.count(1)
SYSTEM = Actor.system("tests")
# The go-live approval is never given by whoever filled in the checklist (AI Act Art. 26 practice).
CLINICAL_OWNER = Actor.system("tests-clinical-owner")

BONEXPERT_USE = {"modalities": ["CR", "DX"], "body_parts": ["HAND"],
                 "age_years_by_sex": {"M": {"min": 0, "max": 19}, "F": {"min": 0, "max": 18}}}


@dataclass
class World:
    hospital: Any
    operator: Any
    vendor: Any
    tool: Any
    version: Any
    contract: Any
    licence: Any
    agreement: Any
    gateway: Any
    actor: Actor
    deployment: Any = None


def complete_checklist(versions: list[str]) -> dict[str, Any]:
    """Every item of the deployer's checklist filled in (values illustrative)."""
    return {"versions": versions, "ifu_document": "IFU rev. 7 (illustrative)", "ifu_sha256": "ab" * 32,
            "overseers": [{"name": "Dr. A. Radioloog", "role": "radiologist", "trained_on": "2026-01-15"}],
            "dpia_reference": "DPIA-2026-01", "dpia_date": date(2026, 1, 10),
            "works_council_informed_on": date(2026, 1, 12), "acceptance_cases": 200,
            "acceptance_agreement_pct": 94, "acceptance_date": date(2026, 1, 20),
            "acceptance_by": "Dr. B. Fysicus", "monitoring_plan": "monthly agreement review",
            "art27_applicable": False, "art49_applicable": False}


def make_deployment(session: Session, clock: Clock, *, hospital_id: int, tool_id: int, version: str,
                    status: str = "approved") -> Any:
    """A deployment with a complete checklist, approved (or left in draft)."""
    dep = deployments.create_deployment(session, actor=SYSTEM, clock=clock, hospital_id=hospital_id,
                                        tool_id=tool_id, **complete_checklist([version]))
    if status in ("approved", "suspended"):
        deployments.approve_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=dep.id)
    if status == "suspended":
        deployments.suspend_deployment(session, actor=CLINICAL_OWNER, clock=clock, deployment_id=dep.id,
                                       reason="test suspension")
    return dep


def make_world(session: Session, clock: Clock, *, intended_use: dict | None = None,
               contract_term: tuple[date, date] = (date(2026, 1, 1), date(2026, 12, 31)),
               licence_term: tuple[date, date] | None = None, quota_limit: int | None = 100,
               quota_period: str = "term", on_quota_exhausted: str = "deny",
               agreement_status: str = "signed",
               agreement_term: tuple[date | None, date | None] = (date(2026, 1, 1), None),
               purposes: tuple[str, ...] = ("clinical-care",), approve_vendor: bool = True,
               certificate_expires_on: date | None = date(2030, 1, 1),
               deployment: str | None = "approved") -> World:
    n = next(_seq)
    kw = {"actor": SYSTEM, "clock": clock}
    hospital = organisations.create_organisation(session, **kw, kind="hospital",
                                                 name=f"Test Hospital {n}", ura=f"{80000000 + n}")
    operator = organisations.create_organisation(session, **kw, kind="platform_operator",
                                                 name=f"Test Operator {n}")
    vendor = organisations.create_organisation(session, **kw, kind="vendor", name=f"Test Vendor {n}")
    tool = tools.create_tool(session, **kw, slug=f"tool-{n}", name=f"Tool {n}", vendor_id=vendor.id,
                             operator_id=operator.id)
    version = tools.create_tool_version(session, **kw, tool_id=tool.id, version="1.0",
                                        intended_use=intended_use or BONEXPERT_USE,
                                        certificate_expires_on=certificate_expires_on,
                                        is_default=True)
    contract = contracts.create_contract(
        session, **kw, reference=f"FW-{n}", title=f"Framework {n}", vendor_id=vendor.id,
        starts_on=contract_term[0], ends_on=contract_term[1], buyer_ids=[hospital.id],
        tools=[{"tool_id": tool.id, "unit_price_cents": 100}])
    lt = licence_term or contract_term
    licence = contracts.create_licence(
        session, **kw, reference=f"LIC-{n}", contract_id=contract.id, hospital_id=hospital.id,
        tool_id=tool.id, starts_on=lt[0], ends_on=lt[1], quota_limit=quota_limit,
        quota_period=quota_period, on_quota_exhausted=on_quota_exhausted)
    eff, end = agreement_term
    agreement = agreements.create_agreement(
        session, **kw, reference=f"DPA-{n}", controller_id=hospital.id, processor_id=operator.id,
        purposes=list(purposes), effective_on=eff, ends_on=end, status=agreement_status,
        signed_on=eff if agreement_status == "signed" else None,
        subprocessors=[{"name": vendor.name, "organisation_id": vendor.id,
                        "approved_on": eff if approve_vendor else None}])
    gateway, _ = gateways.register_gateway(session, **kw, hospital_id=hospital.id, name=f"gw-{n}")
    actor = Actor.for_gateway(gateway, frozenset({Permission.ROUTING_DECIDE, Permission.USAGE_REPORT}))
    # Clinical care needs an approved deployment; by default the world has one, so that a permit
    # test keeps meaning "every term holds". ``deployment=None`` leaves it out, "draft" unapproved.
    dep = None
    if deployment is not None:
        dep = make_deployment(session, clock, hospital_id=hospital.id, tool_id=tool.id,
                              version=version.version, status=deployment)
    session.flush()
    return World(hospital, operator, vendor, tool, version, contract, licence, agreement, gateway, actor, dep)


def child_hand(tool: str, study_key: str = "study-1", **overrides: Any) -> DecisionIn:
    """A 9.5-year-old boy's hand X-ray: within BoneXpert's intended use."""
    body = {"tool": tool, "purpose": "clinical-care",
            "study": {"study_key": study_key, "modality": "DX", "body_part": "HAND",
                      "patient_age_years": 9.5, "patient_sex": "M"}}
    study = overrides.pop("study", {})
    body["study"].update(study)
    body.update(overrides)
    return DecisionIn.model_validate(body)


def bearer(session: Session, clock: Clock, gateway, scope: str = "routing:decide usage:report bundle:read") -> dict:
    assert set(scope.split()) <= set(GATEWAY_SCOPES)
    issued = issue_gateway_token(session, clock=clock, gateway=gateway, scope=scope, ttl=600)
    session.commit()
    return {"Authorization": f"Bearer {issued.access_token}"}


def browser_login(client, session: Session, email: str) -> None:
    """Log ``client`` (a Flask test client) in as the user with this e-mail: a real server-side
    session record, as the login page makes, and its value in the cookie."""
    from sqlalchemy import select

    from registry.db.users import User
    from registry.services.sessions import SessionPolicy, open_session
    from registry.web.views import SESSION_KEY

    reg = client.application.extensions["registry"]
    user = session.scalar(select(User).where(User.email == email))
    value = open_session(session, clock=reg.clock, user=user, address="127.0.0.1",
                         policy=SessionPolicy.from_settings(reg.settings), method="test")
    session.commit()
    with client.session_transaction() as web_session:
        web_session[SESSION_KEY] = value
