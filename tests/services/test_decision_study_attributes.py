"""Every attribute of the study reaches the intended-use check of a real decision: contrast and
SOP classes too, not only modality, body part, age and sex (which child_hand exercises). A
CT pulmonary angiography tool in the manner of CINA-iPE needs a contrast-enhanced CT."""

from __future__ import annotations

import pytest

from registry.services import decisions
from tests.factories import child_hand, make_world

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CTPA_USE = {"modalities": ["CT"], "body_parts": ["CHEST"], "contrast": "required",
            "sop_class_uids": [CT_IMAGE, ENHANCED_CT]}


@pytest.mark.parametrize("contrast, sop_classes, expected", [
    (True, [ENHANCED_CT], "permit"),
    (False, [ENHANCED_CT], "deny"),            # not enhanced
    (None, [CT_IMAGE], "deny"),                # the gateway could not tell
    (True, [MR_IMAGE], "deny"),                # no SOP class the tool reads
    (True, [MR_IMAGE, CT_IMAGE], "permit"),    # one is enough
])
def test_contrast_and_sop_classes_decide(session, clock, policy_engine, contrast, sop_classes,
                                          expected):
    world = make_world(session, clock, intended_use=CTPA_USE)
    study = {"modality": "CT", "body_part": "CHEST", "sop_class_uids": sop_classes,
             "contrast": contrast}
    decision = decisions.decide(session, actor=world.actor, clock=clock, engine=policy_engine,
                                request=child_hand(world.tool.slug, study=study)).decision
    assert decision.outcome == expected
    codes = [r["code"] for r in decision.reasons]
    assert codes == ([] if expected == "permit" else ["OUTSIDE_INTENDED_USE"])
