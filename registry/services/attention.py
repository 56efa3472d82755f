"""What needs someone's attention, beside the routing matrix on the dashboard.

Terms ending soon (contracts, licences, agreements, CE certificates), licences near or at their
quota, agreements waiting for legal review, gateways that have gone quiet, the latest denies. All
scoped by the one rule (``registry.scope``) and read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.agreements import DataProcessingAgreement
from registry.db.contracts import ContractExtension, FrameworkContract, Licence
from registry.db.decisions import Decision
from registry.db.oauth import AccessToken
from registry.db.organisations import Gateway
from registry.db.tools import Tool, ToolVersion
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.policy.facts import licence_window
from registry.scope import restrict, scope_of
from registry.services import quota as quota_service

SOON_DAYS = (30, 90)
QUIET_AFTER = timedelta(days=1)


@dataclass
class Ending:
    kind: str  # framework_contracts, licences, data_processing_agreements, tool_versions
    row: Any
    ends_on: date
    days_left: int
    name: str = ""  # for a tool version: the tool's name and version


@dataclass
class NoticeDue:
    """An extension option whose notice period is running: decide on it by ``decide_by``."""

    contract: FrameworkContract
    option: int  # 1-based, as people count them
    months: int
    decide_by: date  # the contract's end less the option's notice days
    days_left: int  # negative: the notice period has passed while the contract still runs


@dataclass
class Attention:
    today: date
    endings: list[Ending] = field(default_factory=list)
    quota: list[tuple[Licence, int, int]] = field(default_factory=list)  # licence, used, limit
    notices: list[NoticeDue] = field(default_factory=list)
    in_review: list[DataProcessingAgreement] = field(default_factory=list)
    # Terminated agreements whose data the processor has yet to delete or return (Art. 28(3)(g)).
    deletions_due: list[DataProcessingAgreement] = field(default_factory=list)
    quiet_gateways: list[tuple[Gateway, datetime | None]] = field(default_factory=list)
    last_denies: list[Decision] = field(default_factory=list)


def _notices_due(session: Session, scope: Any, today: date, horizon: date) -> list[NoticeDue]:
    """The next unexercised extension option of each running contract whose notice deadline
    (the end less the option's ``notice_days``) falls within the horizon or has passed: the
    reminder to decide before the option lapses."""
    exercised: dict[int, set[int]] = {}
    for contract_id, index in session.execute(select(ContractExtension.contract_id, ContractExtension.option_index)):
        exercised.setdefault(contract_id, set()).add(index)
    out = []
    for contract in session.scalars(restrict(select(FrameworkContract).where(
            FrameworkContract.status == "active", FrameworkContract.ends_on >= today), scope, FrameworkContract)):
        options = contract.extension_options or []
        index = next((i for i in range(len(options)) if i not in exercised.get(contract.id, set())), None)
        if index is None or not options[index].get("notice_days"):
            continue
        decide_by = contract.ends_on - timedelta(days=int(options[index]["notice_days"]))
        if decide_by <= horizon:
            out.append(NoticeDue(contract, index + 1, int(options[index]["months"]), decide_by,
                                 (decide_by - today).days))
    return sorted(out, key=lambda n: (n.decide_by, n.contract.reference))


def needs_attention(session: Session, *, actor: Actor, clock: Clock, limit: int = 10) -> Attention:
    scope = scope_of(session, actor)
    today = term_date(clock.now())
    horizon = today + timedelta(days=SOON_DAYS[-1])
    out = Attention(today)

    def ending(kind: str, model: Any, end_col: Any, *where: Any) -> None:
        stmt = restrict(select(model).where(end_col >= today, end_col <= horizon, *where), scope, model)
        for row in session.scalars(stmt.order_by(end_col)):
            end = getattr(row, end_col.key)
            name = f"{session.get(Tool, row.tool_id).name} {row.version}" if model is ToolVersion else ""
            out.endings.append(Ending(kind, row, end, (end - today).days, name))

    if actor.can(Permission.CONTRACTS_READ):
        ending("framework_contracts", FrameworkContract, FrameworkContract.ends_on,
               FrameworkContract.status == "active")
        ending("licences", Licence, Licence.ends_on, Licence.status == "active")
        lics = session.scalars(restrict(select(Licence).where(
            Licence.status == "active", Licence.quota_limit.is_not(None), Licence.quota_limit > 0,
            Licence.starts_on <= today, Licence.ends_on >= today), scope, Licence))
        for lic in lics:
            used = quota_service.used_in_window(session, lic.id, licence_window(lic, today).starts_on)
            if used * 100 >= lic.quota_limit * 80:
                out.quota.append((lic, used, lic.quota_limit))
        out.quota.sort(key=lambda t: -t[1] / t[2])
        out.notices = _notices_due(session, scope, today, horizon)
    if actor.can(Permission.AGREEMENTS_READ):
        ending("data_processing_agreements", DataProcessingAgreement, DataProcessingAgreement.ends_on,
               DataProcessingAgreement.status == "signed")
        # The processor's security certificate (NEN 7510 / ISO 27001) is a term of the agreement too.
        ending("agreement_certificates", DataProcessingAgreement,
               DataProcessingAgreement.security_certificate_expires_on, DataProcessingAgreement.status == "signed")
        out.in_review = list(session.scalars(restrict(select(DataProcessingAgreement).where(
            DataProcessingAgreement.status == "in_review"), scope, DataProcessingAgreement)
            .order_by(DataProcessingAgreement.reference)))
        out.deletions_due = list(session.scalars(restrict(select(DataProcessingAgreement).where(
            DataProcessingAgreement.status == "terminated", DataProcessingAgreement.deletion_due_on.is_not(None),
            DataProcessingAgreement.deletion_done_on.is_(None)), scope, DataProcessingAgreement)
            .order_by(DataProcessingAgreement.deletion_due_on)))
    if actor.can(Permission.TOOLS_READ):
        ending("tool_versions", ToolVersion, ToolVersion.certificate_expires_on,
               ToolVersion.status == "active")
    out.endings.sort(key=lambda e: e.ends_on)
    if actor.can(Permission.ORGANISATIONS_READ):
        # A gateway is heard from when it gets a token or asks for a decision.
        last_token = (select(AccessToken.gateway_id, func.max(AccessToken.issued_at).label("at"))
                      .group_by(AccessToken.gateway_id).subquery())
        stmt = restrict(select(Gateway, last_token.c.at)
                        .outerjoin(last_token, last_token.c.gateway_id == Gateway.id)
                        .where(Gateway.status == "active"), scope, Gateway)
        cutoff = clock.now() - QUIET_AFTER
        for gateway, at in session.execute(stmt.order_by(Gateway.name)):
            if at is None or at < cutoff:
                out.quiet_gateways.append((gateway, at))
    if actor.can(Permission.DECISIONS_READ):
        out.last_denies = list(session.scalars(restrict(select(Decision).where(
            Decision.outcome == "deny"), scope, Decision).order_by(Decision.decided_at.desc()).limit(limit)))
    return out
