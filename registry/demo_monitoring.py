"""The demo world's pooled monitoring: radiologists' feedback on the pilot's BoneXpert studies.

The pilot's usage (registry.demo_procurement) is a year of confirmed, illustrative BoneXpert
decisions at the five pilot hospitals without study facts. Here they are given illustrative
study facts (age, sex, modality; the version they ran on) and about two thirds of them a
radiologist's assessment, so that the monitoring page shows something: a low disagreement rate
overall and one **flagged subgroup** — adolescents of 15–17, where the skeleton nears maturity and
(in this made-up story) the radiologists disagree with the bone age far more often. Every figure
is illustrative, not a finding about the real tool.

Deterministic (a fixed seed) and in bulk, like the usage it builds on: one UPDATE of the decisions
(executemany) and one INSERT of feedback rows, without audit entries (like the pilot's usage: seeded
data, not anyone's report).
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from registry.db.decisions import Decision
from registry.db.feedback import Feedback
from registry.db.tools import Tool, ToolVersion
from registry.domain.monitoring import AGREE, DISAGREE, NOT_ASSESSED, study_subgroup

SEED = 20261129
TOOL = "bonexpert"
FLAGGED_BAND = "15-17"  # the subgroup the demo flags
# Illustrative disagreement rates: the flagged age band against everyone else.
DISAGREE_RATE = {FLAGGED_BAND: 0.26}
BASE_DISAGREE_RATE = 0.06
NOT_ASSESSED_RATE = 0.05
ASSESSED_SHARE = 0.65  # the share of studies a radiologist gave feedback on


def seed_monitoring(session: Session) -> int:
    """Give the pilot's BoneXpert decisions study facts and feedback; returns the feedback rows."""
    rng = random.Random(SEED)
    version_id = session.scalar(select(ToolVersion.id).join(Tool, Tool.id == ToolVersion.tool_id)
                                .where(Tool.slug == TOOL, ToolVersion.is_default))
    rows = session.execute(select(Decision.id, Decision.hospital_id, Decision.decided_at)
                           .where(Decision.actor == "system:demo-usage", Decision.tool_slug == TOOL)
                           .order_by(Decision.id)).all()
    facts, feedback = [], []
    owed: dict[tuple[int | str | None, ...], list[float]] = {}
    for decision_id, hospital_id, decided_at in rows:
        # Children and adolescents within BoneXpert's intended use; hand radiographs, CR or DX.
        study = {"study_key": f"demo-usage-{decision_id[:8]}", "body_part": "HAND",
                 "modality": "CR" if rng.random() < 0.3 else "DX",
                 "patient_age_years": round(rng.uniform(2, 17.9), 1), "patient_sex": rng.choice("MF")}
        request = {"tool": TOOL, "purpose": "clinical-care", "study": study, "illustrative": True}
        facts.append({"_id": decision_id, "request": request, "version": version_id})
        if rng.random() >= ASSESSED_SHARE:
            continue
        subgroup = study_subgroup(request)
        # Spread evenly within each hospital × age band × sex × modality (error diffusion, not
        # dice): the hospitals, sexes and modalities then differ only by their mix of ages, and
        # none is flagged by chance; the age band is the story.
        due = owed.setdefault((hospital_id, *subgroup.values()), [0.5, 0.5])
        due[0] += NOT_ASSESSED_RATE
        due[1] += DISAGREE_RATE.get(subgroup["age_band"], BASE_DISAGREE_RATE)
        if due[0] >= 1:
            due[0] -= 1
            assessment = NOT_ASSESSED
        elif due[1] >= 1:
            due[1] -= 1
            assessment = DISAGREE
        else:
            assessment = AGREE
        category = {DISAGREE: "measurement", NOT_ASSESSED: "image-quality"}.get(assessment)
        feedback.append({"decision_id": decision_id, "assessor": f"demo-r{hospital_id}-{rng.randint(1, 6)}",
                         "assessment": assessment, "category": category, "hospital_id": hospital_id,
                         "gateway_id": None, "tool_slug": TOOL, "tool_version_id": version_id,
                         "received_at": decided_at + timedelta(days=2), **subgroup})
    if facts:
        session.execute(update(Decision.__table__).where(Decision.__table__.c.id == bindparam("_id"))
                        .values(request=bindparam("request"), tool_version_id=bindparam("version")), facts)
    if feedback:
        session.execute(insert(Feedback.__table__), feedback)
    return len(feedback)
