"""The in-memory terms of the decision path are never stale: a change of terms committed through
one instance (here: another TermsCache, as another process would hold) is honoured by the very
next decision on every instance, whichever cache is warm."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from registry.clock import FixedClock
from registry.db.migrate import upgrade
from registry.services import agreements, contracts, decisions, tools
from registry.services.terms_cache import TermsCache
from tests.conftest import DEMO_NOW
from tests.factories import SYSTEM, child_hand, make_world

CLOCK = FixedClock(DEMO_NOW)


@pytest.fixture
def committed(fresh_engine):
    upgrade(fresh_engine)
    sessions = sessionmaker(bind=fresh_engine, expire_on_commit=False, autoflush=False)
    with sessions() as s:
        world = make_world(s, CLOCK)
        s.commit()
    return sessions, world


def _decide(sessions, world, engine, cache, key):
    with sessions() as s:
        out = decisions.decide(s, actor=world.actor, clock=CLOCK, engine=engine,
                               request=child_hand(world.tool.slug, key), terms=cache)
        s.commit()
        return out.decision.outcome, [r["code"] for r in out.decision.reasons]


def _change(sessions, change):
    with sessions() as s:
        change(s)
        s.commit()


CHANGES = {
    "TOOL_SUSPENDED": lambda w: lambda s: tools.suspend_tool_version(
        s, actor=SYSTEM, clock=CLOCK, tool_version_id=w.version.id, reason="field safety notice"),
    "LICENCE_NOT_IN_FORCE": lambda w: lambda s: contracts.set_licence_status(
        s, actor=SYSTEM, clock=CLOCK, licence_id=w.licence.id, status="terminated", reason="ended"),
    "AGREEMENT_NOT_SIGNED": lambda w: lambda s: agreements.transition_agreement(  # terminated
        s, actor=SYSTEM, clock=CLOCK, agreement_id=w.agreement.id, to="terminated", reason="ended"),
}


@pytest.mark.parametrize("reason", sorted(CHANGES))
def test_a_change_through_one_instance_is_honoured_by_the_next_decision_on_another(
        committed, policy_engine, reason):
    sessions, world = committed
    here, there = TermsCache(), TermsCache()
    # Both instances have decided, so both hold the terms in memory.
    assert _decide(sessions, world, policy_engine, here, "k1")[0] == "permit"
    assert _decide(sessions, world, policy_engine, there, "k2")[0] == "permit"
    _change(sessions, CHANGES[reason](world))
    for n, cache in enumerate((there, here)):
        outcome, reasons = _decide(sessions, world, policy_engine, cache, f"after-{n}")
        assert outcome == "deny" and reason in reasons, (outcome, reasons)


def test_an_older_revision_never_fills_the_shared_entries():
    cache = TermsCache()
    current = cache.entries(5)
    current["x"] = 1
    assert cache.entries(4) == {} and cache.entries(4) is not current
    assert cache.entries(5) is current
    assert cache.entries(6) == {} and cache.revision == 6
