"""The demo world's procurement: one framework per tool under the "extended term" model, a call-off
per hospital and tool, and a year of illustrative usage of the pilot so that allocations,
statements and burn-down charts show something.

The usage is inserted in bulk (one INSERT of confirmed decisions and one of quota counters), not
through thousands of service calls: it is illustrative data, flagged by its study keys
(``demo-usage-…``) and its actor (``system:demo-usage``), and seeding stays quick. Each row is
what a confirmed permit looks like, so reconciliation finds the counters consistent with it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from registry.db.contracts import QuotaCounter
from registry.db.decisions import Decision, Reservation
from registry.services import contracts

PRICES_CENTS = {"bonexpert": (450, 600), "rbfracture": (300, 400), "cina-ipe": (800, 1000)}  # illustrative
# Illustrative schedules: a lower price per study once the consortium passes a volume in the
# period, an annual platform fee per tool shared pro rata to completed studies, 21 % VAT.
TIERS = {"bonexpert": [{"from_studies": 400, "unit_price_cents": 400}],
         "rbfracture": [{"from_studies": 500, "unit_price_cents": 250}],
         "cina-ipe": [{"from_studies": 280, "unit_price_cents": 700}]}
ANNUAL_FEE_CENTS = {"bonexpert": 600_000, "rbfracture": 900_000, "cina-ipe": 1_200_000}
# Monthly studies per tool at a mid-sized pilot hospital (illustrative), scaled per hospital.
MONTHLY = {"bonexpert": 28, "rbfracture": 35, "cina-ipe": 19}
_NS = uuid.UUID("7c1f3a52-6a5e-4c1e-9a57-0d4d0c0a1f26")


def seed_procurement(session: Session, *, kw: dict[str, Any], tool_rows: dict[str, tuple[Any, Any]],
                     consortium: Any, hospitals: list[Any], fictional: list[Any], oost: Any,
                     pilot: tuple[date, date]) -> dict[tuple[int, str], Any]:
    """Frameworks, call-offs, the exercised extension and the pilot's usage; returns the licences."""
    all_hospitals = hospitals + fictional
    licences = {}
    for slug, (tool, vendor) in tool_rows.items():
        unit, overage = PRICES_CENTS[slug]
        items = [{"tool_id": tool.id, "unit_price_cents": unit, "overage_price_cents": overage,
                  "annual_fee_cents": ANNUAL_FEE_CENTS[slug], "tiers": TIERS[slug]}]
        # The pilot year with two one-year extension options; the first is exercised below, so
        # the term runs through this year and the call-offs follow it. The second is left for the
        # procurement officer to exercise.
        fw = contracts.create_contract(
            session, **kw, reference=f"AIFI-FW-{slug.upper()}", title=f"AIFI framework {tool.name} (illustrative terms)",
            vendor_id=vendor.id, starts_on=pilot[0], ends_on=pilot[1],
            buyer_ids=[consortium.id] + [h.id for h in all_hospitals], tools=items,
            extension_options=[{"months": 12, "notice_days": 90}] * 2, split_rule="pro_rata", illustrative=True)
        for h in all_hospitals:
            quota, rule = 1200, "deny"
            if h is oost:
                quota, rule = {"rbfracture": (100, "deny"), "cina-ipe": (20, "deny"),
                               "bonexpert": (50, "overage")}[slug]
            licences[(h.id, slug)] = contracts.create_licence(
                session, **kw, reference=f"AIFI-LIC-{slug.upper()}-{h.ura[-3:]}-{pilot[0].year}",
                contract_id=fw.id, hospital_id=h.id, tool_id=tool.id, starts_on=pilot[0], ends_on=pilot[1],
                quota_limit=quota, quota_period="year", on_quota_exhausted=rule, illustrative=True)
        contracts.exercise_extension(session, **kw, contract_id=fw.id,
                                     note="the pilot's one-year extension (illustrative)")
    seed_pilot_usage(session, year=pilot[0].year, licences=licences, hospitals=hospitals)
    return licences


def pilot_usage_counts(year: int, hospitals: list[Any]) -> dict[tuple[int, str, int], int]:
    """(hospital id, tool slug, month) → completed studies: a deterministic, seasonal pattern."""
    out = {}
    for index, h in enumerate(hospitals):
        scale = (80 + 15 * index) / 100  # hospitals differ in size
        for slug, base in MONTHLY.items():
            for month in range(1, 13):
                season = 0.75 if month in (7, 8) else (0.9 if month == 12 else 1.0)  # summer, holidays
                out[(h.id, slug, month)] = int(base * scale * season) + (month * (index + 1)) % 7
    return out


def seed_pilot_usage(session: Session, *, year: int, licences: dict[tuple[int, str], Any],
                     hospitals: list[Any]) -> int:
    """A year of confirmed, illustrative studies for the real pilot hospitals, in bulk."""
    decisions, used = [], {}
    for (hospital_id, slug, month), n in pilot_usage_counts(year, hospitals).items():
        lic = licences[(hospital_id, slug)]
        for i in range(n):
            day = date(year, month, 1 + (i * 7) % 28)
            at = datetime.combine(day, time(8 + i % 10, (i * 13) % 60), tzinfo=timezone.utc)
            key = f"demo-usage-{slug}-{hospital_id}-{month:02d}-{i:03d}"
            decisions.append({
                "id": str(uuid.uuid5(_NS, key)), "decided_at": at, "kind": "decide", "outcome": "permit",
                "dry_run": False, "evaluated_on": day, "hospital_id": hospital_id,
                "actor": "system:demo-usage", "tool_slug": slug, "purpose": "clinical-care", "study_key": key,
                "reasons": [], "obligations": [], "refs": {}, "request": {"illustrative": True}, "facts": {},
                "rules": [], "policy_version": "demo-usage (illustrative)", "licence_id": lic.id,
                "quota_window_start": date(year, 1, 1), "overage": False,
                "reservation": Reservation.CONFIRMED.value, "finalised_at": at})
        used[lic.id] = used.get(lic.id, 0) + n
    if decisions:
        # Core inserts (executemany), not the ORM's bulk path: about twice as fast for these rows.
        session.execute(insert(Decision.__table__), decisions)
        session.execute(insert(QuotaCounter.__table__), [
            {"licence_id": lic_id, "window_start": date(year, 1, 1), "window_end": date(year, 12, 31), "used": n}
            for lic_id, n in sorted(used.items())])
    return len(decisions)
