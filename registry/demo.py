"""The demo world: the AIFI pilot, plus fictional hospitals that show every interesting state.

Real names come from the public announcement (shared/seed). Everything invented — identifiers
(URA, AGB, KvK), quotas, prices, dates, certificate numbers — is illustrative and flagged so
(``illustrative=True`` on contracts and licences, "(illustrative)" in texts). No negative state
(a deny, an expired or unsigned agreement, an exhausted quota, an offboarding) is attributed to
a real hospital: those live on the fictional "Demo" hospitals.

Dates are anchored on the year the demo is seeded: the pilot ran the previous calendar year and
the one-year extension runs this year, so the demo world is "current" whenever it is created.
Seeding is idempotent: if the consortium exists, nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry import demo_procurement
from registry.db.organisations import Organisation
from registry.demo_clinical import seed_clinical
from registry.domain.terms import term_date
from registry.permissions import Permission
from registry.policy.engine import PolicyEngine
from registry.schemas import DecisionIn
from registry.demo_legal import seed_legal
from registry.demo_monitoring import seed_monitoring
from registry.services import (agreements, contracts, decisions, gateways, objections,
                               organisations, tools, users)

CONSORTIUM = "AIFI-consortium (VZVZ, NVvR, ZN)"
DEMO_PASSWORD = "aifi-demo-2026"  # development only; printed by `registry demo`
DEMO_USERS = [
    ("admin@demo.aifi.nl", "admin"),
    ("inkoop@demo.aifi.nl", "procurement"),
    ("jurist@demo.aifi.nl", "legal"),
    ("auditor@demo.aifi.nl", "auditor"),
    ("privacy@demo.aifi.nl", "privacy_officer"),
    ("lezer@demo.aifi.nl", "viewer"),
]
# People of one organisation: they see only what concerns it, whatever their role (registry.scope).
# (e-mail, role, name of the fictional organisation they belong to)
DEMO_ORG_USERS = [
    ("privacy@oost.demo.aifi.nl", "privacy_officer", "Demo Ziekenhuis Oost"),
    ("lezer@noord.demo.aifi.nl", "viewer", "Demo Ziekenhuis Noord"),
]
# A pseudonym (keyed hash) with a recorded objection, for trying PATIENT_OBJECTION by hand.
DEMO_OBJECTING_PSEUDONYM = "5f0c1e2d3b4a5968778695a4b3c2d1e0f5e4d3c2b1a09f8e7d6c5b4a39281706"

PILOT_HOSPITALS = [
    # name, URA, AGB, KvK — identifiers invented for the demo (illustrative)
    ("Catharina Ziekenhuis", "90000011", "06010001", "17000001"),
    ("Gelre Ziekenhuizen", "90000022", "06010002", "17000002"),
    ("Radboudumc", "90000033", "06010003", "17000003"),
    ("Ziekenhuisgroep Twente", "90000044", "06010004", "17000004"),
    ("Ziekenhuis Rivierenland", "90000055", "06010005", "17000005"),
]
FICTIONAL_HOSPITALS = [
    # name, URA, what it shows
    ("Demo Ziekenhuis Noord", "99000101", "agreement in legal review"),
    ("Demo Ziekenhuis Zuid", "99000102", "agreement expired"),
    ("Demo Ziekenhuis Oost", "99000103", "licence near quota, one exhausted, an objection"),
    ("Ziekenhuis Voorbeeldstad", "99000104", "offboarded"),
]

TOOLS = {
    "bonexpert": {
        "name": "BoneXpert", "vendor": ("Visiana", "DK"),
        "description": "Autonomous bone-age assessment from a hand radiograph.",
        "version": "3.2",
        # 2021 instructions for use: bone age 0–19 y for boys, 0–18 y for girls; needs sex.
        "intended_use": {"modalities": ["CR", "DX"], "body_parts": ["HAND"],
                         "age_years_by_sex": {"M": {"min": 0, "max": 19}, "F": {"min": 0, "max": 18}},
                         "sop_class_uids": ["1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1"]},
    },
    "rbfracture": {
        "name": "RBfracture", "vendor": ("Radiobotics", "DK"),
        "description": "Decision support for fractures, dislocations and effusion on trauma radiographs.",
        "version": "2.4",
        # Adults; body regions and age range unverified (DOMAIN.md): kept as editable data.
        "intended_use": {"modalities": ["CR", "DX"], "age_years": {"min": 18},
                         "notes": "body regions and age range unverified (illustrative)"},
    },
    "cina-ipe": {
        "name": "CINA-iPE", "vendor": ("Avicenna.AI", "FR"),
        "description": "Triage of incidental pulmonary embolism on contrast-enhanced chest CT "
                       "(not dedicated CT pulmonary angiography). FDA K233968.",
        "version": "1.1",
        "intended_use": {"modalities": ["CT"], "age_years": {"min": 18}, "contrast": "required",
                         "sop_class_uids": ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"]},
    },
}


@dataclass
class DemoReport:
    created: bool
    users: list[tuple[str, str]] = field(default_factory=list)
    hospitals: int = 0


def seed_demo(session: Session, *, clock: Clock, engine: PolicyEngine) -> DemoReport:
    """Create the demo world, or change nothing when it is already there."""
    if session.scalar(select(Organisation.id).where(Organisation.name == CONSORTIUM)) is not None:
        return DemoReport(created=False)
    actor = Actor.system("demo-seed")
    kw = {"actor": actor, "clock": clock}
    today = term_date(clock.now())
    year = today.year
    pilot = (date(year - 1, 1, 1), date(year - 1, 12, 31))
    extension = (date(year, 1, 1), date(year, 12, 31))

    org = organisations.create_organisation
    consortium = org(session, **kw, kind="consortium", name=CONSORTIUM)
    operator = org(session, **kw, kind="platform_operator", name="Alphatron Zorgverbinders",
                   kvk="17999001")
    hospitals = [org(session, **kw, kind="hospital", name=n, ura=u, agb=a, kvk=k)
                 for n, u, a, k in PILOT_HOSPITALS]
    fictional = [org(session, **kw, kind="hospital", name=n, ura=u, illustrative=True)
                 for n, u, _ in FICTIONAL_HOSPITALS]
    noord, zuid, oost, voorbeeldstad = fictional

    tool_rows, versions = {}, {}
    for slug, spec in TOOLS.items():
        vendor_name, country = spec["vendor"]
        vendor = org(session, **kw, kind="vendor", name=vendor_name, country=country)
        tool = tools.create_tool(session, **kw, slug=slug, name=spec["name"], vendor_id=vendor.id,
                                 operator_id=operator.id, description=spec["description"])
        versions[slug] = tools.create_tool_version(
            session, **kw, tool_id=tool.id, version=spec["version"], intended_use=spec["intended_use"],
            mdr_class="IIa", notified_body="(illustrative)",
            certificate_number=f"CE-{slug.upper()}-0001 (illustrative)",
            certificate_expires_on=date(year + 2, 6, 30), released_on=pilot[0], is_default=True)
        tool_rows[slug] = (tool, vendor)
    # A suspended version: a fictional field-safety scenario, not a real notice.
    old = tools.create_tool_version(
        session, **kw, tool_id=tool_rows["rbfracture"][0].id, version="2.3-demo",
        intended_use=TOOLS["rbfracture"]["intended_use"], mdr_class="IIa",
        certificate_number="CE-RBFRACTURE-0000 (illustrative)",
        certificate_expires_on=date(year + 1, 12, 31), released_on=pilot[0])
    tools.suspend_tool_version(session, **kw, tool_version_id=old.id,
                               reason="illustrative suspension for the demo; not a real safety notice")

    all_hospitals = hospitals + fictional
    demo_procurement.seed_procurement(session, kw=kw, tool_rows=tool_rows, consortium=consortium,
                                      hospitals=hospitals, fictional=fictional, oost=oost, pilot=pilot)

    def dpa(h, ref, status, effective, ends, signed=None):
        subs = [{"name": v.name, "organisation_id": v.id, "role": f"AI model {t.name}",
                 "location": v.country, "approved_on": effective}
                for t, v in tool_rows.values()]
        return agreements.create_agreement(
            session, **kw, reference=ref, controller_id=h.id, processor_id=operator.id,
            purposes=["clinical-care", "quality-assurance"], effective_on=effective, ends_on=ends,
            status=status, signed_on=signed, subprocessors=subs,
            subject="AI analysis of radiology studies via the AIFI gateway and central cloud",
            model="BoZ verwerkersovereenkomst 2022", data_categories=["DICOM images", "age", "sex"],
            data_subjects=["patients, including minors"], processing_locations=["NL", "EU"],
            breach_notification_hours=24, retention="no retention after the analysis (illustrative)",
            deletion_terms="delete all data at the end of the service, GDPR Art. 28(3)(g)",
            security_certificate="NEN 7510 / ISO 27001 (illustrative)",
            security_certificate_expires_on=date(year + 1, 12, 31))

    for h in hospitals:
        dpa(h, f"VWO-{h.ura}-1", "signed", pilot[0], None, signed=pilot[0] - timedelta(days=14))
    dpa(noord, f"VWO-{noord.ura}-1", "in_review", extension[0], None)
    dpa(zuid, f"VWO-{zuid.ura}-1", "signed", pilot[0], today - timedelta(days=30),
        signed=pilot[0] - timedelta(days=14))
    dpa(oost, f"VWO-{oost.ura}-1", "signed", pilot[0], None, signed=pilot[0] - timedelta(days=14))
    dpa(voorbeeldstad, f"VWO-{voorbeeldstad.ura}-1", "signed", pilot[0], None,
        signed=pilot[0] - timedelta(days=14))

    seed_legal(session, **kw)  # the legal workspace's part: the agreements' Art. 28(3) clauses
    gws = {}
    for h in all_hospitals:
        gws[h.id], _secret = gateways.register_gateway(session, **kw, hospital_id=h.id,
                                                       name=f"gateway-{h.ura}")
    objections.record_objection(session, **kw, hospital_id=oost.id,
                                pseudonym=DEMO_OBJECTING_PSEUDONYM, purposes=["clinical-care"],
                                recorded_on=pilot[0])

    seed_clinical(session, clock=clock, password=DEMO_PASSWORD)  # before the decisions: they need it
    # Use at Oost through the real decision path: RBfracture near its quota, CINA-iPE exhausted.
    gw_actor = Actor.for_gateway(gws[oost.id], frozenset({Permission.ROUTING_DECIDE}),
                                 request_id="demo-seed")
    for slug, n, study in (("rbfracture", 97, {"modality": "DX", "patient_age_years": 45}),
                           ("cina-ipe", 20, {"modality": "CT", "patient_age_years": 60,
                                             "contrast": True})):
        for i in range(n):
            decisions.decide(session, actor=gw_actor, clock=clock, engine=engine,
                             request=DecisionIn.model_validate(
                                 {"tool": slug, "purpose": "clinical-care",
                                  "study": {"study_key": f"demo-{slug}-{i:04d}", **study}}))

    # A few requests the registry refused, so that the dashboard's latest denies and the decision
    # search show real reasons: an unsigned agreement, an expired one, a patient's objection.
    for hospital, study_key, extra in ((noord, "demo-deny-noord-1", {}), (zuid, "demo-deny-zuid-1", {}),
                                       (oost, "demo-deny-oost-1",
                                        {"patient_pseudonym": DEMO_OBJECTING_PSEUDONYM})):
        actor = Actor.for_gateway(gws[hospital.id], frozenset({Permission.ROUTING_DECIDE}),
                                  request_id="demo-seed")
        decisions.decide(session, actor=actor, clock=clock, engine=engine, request=DecisionIn.model_validate(
            {"tool": "bonexpert", "purpose": "clinical-care", **extra,
             "study": {"study_key": study_key, "modality": "DX", "body_part": "HAND",
                       "patient_age_years": 9.5, "patient_sex": "M"}}))

    seed_monitoring(session)  # radiologists' feedback on the pilot's BoneXpert studies, one subgroup flagged
    organisations.set_organisation_status(session, **kw, organisation_id=voorbeeldstad.id,
                                          status="offboarded",
                                          reason="left the programme (fictional, for the demo)")
    # Counted, not summed: the clinical seed adds a hospital of its own (Demo Ziekenhuis West).
    report = DemoReport(created=True, hospitals=session.scalar(
        select(func.count()).select_from(Organisation).where(Organisation.kind == "hospital")))
    for email, role in DEMO_USERS:
        users.create_user(session, **kw, email=email, roles=[role], password=DEMO_PASSWORD,
                          name=role.replace("_", " ").title())
        report.users.append((email, role))
    by_name = {o.name: o for o in all_hospitals}
    for email, role, org_name in DEMO_ORG_USERS:
        users.create_user(session, **kw, email=email, roles=[role], password=DEMO_PASSWORD,
                          name=f"{role.replace('_', ' ').title()} ({org_name})",
                          organisation_id=by_name[org_name].id)
        report.users.append((email, role))
    session.flush()
    return report
