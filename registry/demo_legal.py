"""The legal workspace's part of the demo world: the Art. 28(3) clauses of every demo agreement, so
that their checklists are complete and Demo Ziekenhuis Noord's agreement (in review, drafted by the
seed) can be approved by the demo legal reviewer. Called once from :func:`registry.demo.seed_demo`,
so it is as idempotent as the seed itself."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.agreements import DataProcessingAgreement
from registry.permissions import Permission
from registry.services._rows import update_row

# Illustrative wording after the BoZ model agreement (2022); not legal advice.
DEMO_CLAUSES = {
    "instructions": "The processor processes personal data only on the hospital's documented instructions "
                    "(illustrative, after the BoZ model agreement).",
    "confidentiality": "Everyone processing under the processor's authority is bound to confidentiality.",
    "security": "NEN 7510 / ISO 27001 certified information security; NEN 7513 logging; a yearly penetration "
                "test (illustrative).",
    "subprocessors": "Sub-processors only with the hospital's prior specific written authorisation, bound to "
                     "the same duties (Art. 28(2) and (4)); listed in the sub-processor annex.",
    "data_subject_rights": "The processor helps the hospital answer requests of data subjects without delay.",
    "assistance": "The processor assists with Arts. 32–36 (security, breach notification, DPIA) and reports a "
                  "personal-data breach within the agreed hours.",
    "audits": "The processor makes available all information needed and allows audits, including "
              "inspections, by the hospital or an auditor it mandates.",
}


def seed_legal(session: Session, *, actor: Actor, clock: Clock) -> None:
    """Give every demo agreement its clauses (the seed may set terms directly: it also sets states)."""
    for dpa in session.scalars(select(DataProcessingAgreement).order_by(DataProcessingAgreement.id)):
        update_row(session, actor=actor, clock=clock, permission=Permission.AGREEMENTS_WRITE, row=dpa,
                   changes={"clauses": dict(DEMO_CLAUSES)}, message="demo: Art. 28(3) clauses")
