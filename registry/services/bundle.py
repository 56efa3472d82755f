"""The signed offline bundle: what a gateway may route on its own while the registry is unreachable.

Legal terms fail closed, so the bundle lists only what holds *now* on the terms alone, with the
date each permission ends on, and it expires no later than the earliest of those dates (OPA's
signed bundles are the model; unlike OPA we never leave fail-open to the caller). Study and
patient conditions (intended use, objections) cannot be known in advance: the gateway checks the
intended use itself from the bundle, and routes offline only within a small allowance per tool.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.clock import Clock
from registry.db.agreements import DataProcessingAgreement
from registry.db.contracts import Licence
from registry.db.organisations import Gateway, Organisation
from registry.db.tools import Tool
from registry.domain.intended_use import Study
from registry.domain.terms import earliest_end, term_date
from registry.keys import SigningKey
from registry.permissions import Permission
from registry.policy.engine import PolicyEngine
from registry.policy.facts import compute_facts, terms_only
from registry.schemas import DecisionIn
from registry.services.decisions import load_snapshot

BUNDLE_TYP = "aifi-bundle+jwt"


@dataclass(frozen=True)
class Bundle:
    jws: str
    etag: str  # unquoted entity tag
    payload: dict[str, Any]


def _end_of_day_utc(day: date, zone: ZoneInfo) -> datetime:
    """The instant an inclusive end date is over: midnight after it, Amsterdam time, in UTC."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(timezone.utc)


def _candidate_purposes(session: Session, hospital_id: int, processor_ids: list[int]) -> list[str]:
    rows = session.scalars(select(DataProcessingAgreement).where(
        DataProcessingAgreement.controller_id == hospital_id,
        DataProcessingAgreement.processor_id.in_(processor_ids)))
    return sorted({p for dpa in rows for p in (dpa.purposes or [])})


def routable_tools(session: Session, *, engine: PolicyEngine, gateway: Gateway, hospital: Organisation,
                   day: date, offline_allowance: int) -> list[dict[str, Any]]:
    """Per licensed tool: its default version and the purposes the same Cedar policies permit on
    ``day`` with the per-study conditions set aside, and the earliest end of the terms relied on."""
    tools = session.scalars(select(Tool).join(Licence, Licence.tool_id == Tool.id)
                            .where(Licence.hospital_id == hospital.id).distinct().order_by(Tool.slug))
    out = []
    for tool in tools:
        processors = [i for i in (tool.operator_id, tool.vendor_id) if i is not None]
        purposes, ends, allowance, snap = [], [], offline_allowance, None
        for purpose in _candidate_purposes(session, hospital.id, processors[:1]):
            request = DecisionIn(tool=tool.slug, purpose=purpose, study={"study_key": "offline-bundle"})
            snap = load_snapshot(session, hospital=hospital, gateway=gateway, request=request, day=day)
            facts = compute_facts(snap, Study())
            if not engine.evaluate(gateway.client_id, tool.slug, terms_only(facts.context)).permit:
                continue
            purposes.append(purpose)
            ends += [snap.licence.ends_on, snap.contract.ends_on, snap.agreement.ends_on,
                     snap.version.certificate_expires_on]
            quota = facts.quota
            # Overage is billed, not refused: only a hard quota bounds the offline allowance.
            if quota is not None and quota.limit is not None and snap.licence.on_quota_exhausted != "overage":
                allowance = min(allowance, quota.remaining or 0)
        if purposes:
            out.append({"tool": tool.slug, "version": snap.version.version, "purposes": purposes,
                        "intended_use": snap.version.intended_use,
                        "until": earliest_end(*ends).isoformat(), "offline_allowance": allowance})
    return out


def build_bundle(session: Session, *, actor: Actor, clock: Clock, engine: PolicyEngine,
                 signer: SigningKey, issuer: str, ttl: int, offline_allowance: int,
                 zone: ZoneInfo) -> Bundle:
    """The calling gateway's bundle, signed (Ed25519, with ``kid``).

    ``iat`` is rounded down to a quarter of ``ttl`` so that the same terms give the very same JWS
    (Ed25519 signatures are deterministic) for a while: the ETag then names the exact bytes, and a
    304 never leaves a gateway holding an older copy with an earlier ``exp``.
    """
    actor.require(Permission.BUNDLE_READ)
    if actor.kind != "gateway" or actor.gateway_id is None:
        raise PermissionDenied(Permission.BUNDLE_READ, actor)
    gateway, hospital = session.execute(
        select(Gateway, Organisation).join(Organisation, Organisation.id == Gateway.hospital_id)
        .where(Gateway.id == actor.gateway_id)).one()
    now = clock.now()
    tools = routable_tools(session, engine=engine, gateway=gateway, hospital=hospital,
                           day=term_date(now, zone), offline_allowance=offline_allowance)
    step = max(60, ttl // 4)
    iat = int(now.timestamp()) // step * step
    exp = iat + ttl
    untils = [date.fromisoformat(t["until"]) for t in tools if t["until"]]
    if untils:
        exp = min(exp, int(_end_of_day_utc(min(untils), zone).timestamp()))
    payload = {"iss": issuer.rstrip("/"), "sub": gateway.client_id, "hospital": hospital.ura,
               "iat": iat, "exp": exp, "policy_version": engine.version, "tools": tools}
    token = signer.sign(payload, typ=BUNDLE_TYP)
    signing_input = token.rsplit(".", 1)[0]
    etag = hashlib.sha256(signing_input.encode("ascii")).hexdigest()[:32]
    return Bundle(token, etag, payload)
