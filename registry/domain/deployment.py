"""The deployer's checklist and the legal periods of an incident (pure: no I/O).

EU AI Act Art. 26 asks a hospital deploying a high-risk AI tool to keep its instructions for use
(26(1)), to name competent, trained people for human oversight (26(2), AI literacy Art. 4), to
inform the works council (26(7)), to do a DPIA (26(9), GDPR Art. 35) and to monitor use (26(5));
Art. 27 (fundamental-rights impact assessment) and Art. 49 (EU database) are recorded as applicable
or not, never left blank. A local acceptance test is the hospital's own evidence.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

# Checklist items in the order pages list them; each maps to what it needs.
CHECKLIST = ("versions", "ifu", "overseers", "dpia", "works_council", "acceptance_test",
             "monitoring_plan", "art27", "art49")

# Why a clinical-care decision is refused (the detail of DEPLOYMENT_NOT_APPROVED).
ABSENT, VERSION_NOT_COVERED, INCOMPLETE, NOT_APPROVED, SUSPENDED = (
    "absent", "version_not_covered", "incomplete", "not_approved", "suspended")


def missing_items(dep: Any) -> list[str]:
    """The checklist items of ``dep`` that are not yet filled in."""
    missing = []
    if not dep.versions:
        missing.append("versions")
    if not dep.ifu_document or not SHA256_HEX.match(dep.ifu_sha256 or ""):
        missing.append("ifu")
    if not dep.overseers or not all(o.get("name") and o.get("trained_on") for o in dep.overseers):
        missing.append("overseers")
    if not dep.dpia_reference or dep.dpia_date is None:
        missing.append("dpia")
    if dep.works_council_informed_on is None:
        missing.append("works_council")
    if (not dep.acceptance_cases or dep.acceptance_agreement_pct is None or dep.acceptance_date is None
            or not dep.acceptance_by):
        missing.append("acceptance_test")
    if not (dep.monitoring_plan or "").strip():
        missing.append("monitoring_plan")
    if dep.art27_applicable is None:
        missing.append("art27")
    if dep.art49_applicable is None:
        missing.append("art49")
    return missing


def routing_problem(dep: Any | None, version: str) -> str | None:
    """Why ``dep`` does not let clinical care route to ``version`` (None: it does)."""
    if dep is None:
        return ABSENT
    if dep.status == "suspended":
        return SUSPENDED
    if version not in (dep.versions or []):
        return VERSION_NOT_COVERED
    if missing_items(dep):
        return INCOMPLETE
    if dep.status != "approved":
        return NOT_APPROVED
    return None


# MDR Art. 87(3)-(5): the manufacturer reports a serious incident within 15 days of awareness,
# 10 days for a death or an unanticipated serious deterioration of health, 2 days for a serious
# public-health threat; the hospital's facts must reach it in time.
VIGILANCE_DAYS = {"public_health_threat": 2, "death_or_serious_deterioration": 10, "other": 15}


def incident_duties(kind: str, severity: str | None, aware_on: date) -> list[tuple[str, str, date]]:
    """The open items an incident creates: (duty, legal basis, due date)."""
    duties = [("provider_informed", "AI Act Art. 26(5): inform the provider without undue delay",
               aware_on + timedelta(days=1))]
    if kind == "serious_incident":
        days = VIGILANCE_DAYS[severity or "other"]
        duties.append(("vigilance_report", f"MDR Art. 87: serious incident reported within {days} days",
                       aware_on + timedelta(days=days)))
        duties.append(("authority_informed",
                       "AI Act Art. 26(5): inform the market-surveillance authority immediately",
                       aware_on + timedelta(days=2)))
    elif kind == "risk":
        duties.append(("authority_informed",
                       "AI Act Art. 26(5): a risk is reported to the market-surveillance authority",
                       aware_on + timedelta(days=2)))
    return duties
