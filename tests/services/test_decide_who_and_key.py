"""Who may ask for a routing decision, and what makes two requests the same study (gaps the
mutation run of services/decisions.py found: docs/testing.md)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from registry.actor import PermissionDenied
from registry.services import decisions
from tests.factories import child_hand, make_world


def _decide(session, actor, clock, policy_engine, tool, study_key="same-key"):
    return decisions.decide(session, actor=actor, clock=clock, engine=policy_engine,
                            request=child_hand(tool, study_key=study_key))


@pytest.mark.parametrize("change", [{"kind": "user"}, {"hospital_id": None}],
                         ids=["a person with routing:decide", "a gateway of no hospital"])
def test_only_a_gateway_of_a_hospital_decides(session, clock, policy_engine, change):
    world = make_world(session, clock)
    actor = dataclasses.replace(world.actor, **change)
    with pytest.raises(PermissionDenied):
        _decide(session, actor, clock, policy_engine, world.tool.slug)


def test_a_permit_is_keyed_by_its_own_hospital(session, clock, policy_engine):
    """The hospital is part of the idempotency key: the same study key, tool and purpose at
    another hospital is another study (never answered with this hospital's permit)."""
    world = make_world(session, clock)
    out = _decide(session, world.actor, clock, policy_engine, world.tool.slug)
    mine = decisions.idempotency_key(world.hospital.id, world.tool.slug, "clinical-care", "same-key")
    other = decisions.idempotency_key(world.hospital.id + 1, world.tool.slug, "clinical-care", "same-key")
    assert out.decision.outcome == "permit" and out.decision.idempotency_key == mine != other


def test_the_idempotency_key_is_stable_across_versions():
    """Keys are stored with every permit: a retry after an upgrade must find the permit made
    before it, so the key's recipe is part of the stored data's meaning."""
    expected = hashlib.sha256("7\x1fbonexpert\x1fclinical-care\x1fstudy-1".encode()).hexdigest()
    assert decisions.idempotency_key(7, "bonexpert", "clinical-care", "study-1") == expected
    assert decisions.idempotency_key(8, "bonexpert", "clinical-care", "study-1") != expected
