"""Two registry instances on one PostgreSQL database, each holding the terms in memory: a tool
version suspended, a licence ended or an agreement terminated (committed through the service
layer, as a third instance's staff request would) is honoured by the very next decision on both."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry.clock import SystemClock
from registry.domain.terms import term_date
from registry.services import agreements, contracts, tools
from tests.conftest import is_postgres, new_database
from tests.factories import SYSTEM
from tests.reliability.served import current_world, decide, migrated, serve

pytestmark = [pytest.mark.postgres_only,
              pytest.mark.skipif(not is_postgres(), reason="several instances need PostgreSQL")]

CHANGES = {
    "TOOL_SUSPENDED": lambda s, w: tools.suspend_tool_version(
        s, actor=SYSTEM, clock=SystemClock(), tool_version_id=w.version.id, reason="field safety notice"),
    "LICENCE_NOT_IN_FORCE": lambda s, w: contracts.set_licence_status(
        s, actor=SYSTEM, clock=SystemClock(), licence_id=w.licence.id, status="terminated", reason="ended"),
    "AGREEMENT_NOT_SIGNED": lambda s, w: agreements.transition_agreement(  # terminated today
        s, actor=SYSTEM, clock=SystemClock(), agreement_id=w.agreement.id, to="terminated", note="ended",
        terminated_on=term_date(SystemClock().now()),
        deletion_due_on=term_date(SystemClock().now()) + timedelta(days=30)),
}


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-instances")
    url, drop = new_database(tmp)
    engine, sessions = migrated(url)
    a = serve(url, tmp / "keys", workers=1)
    try:
        b = serve(url, tmp / "keys", workers=1)
    except BaseException:
        a.stop()
        raise
    yield sessions, a, b
    a.stop()
    b.stop()
    engine.dispose()
    drop()


@pytest.mark.parametrize("reason", sorted(CHANGES))
def test_a_change_is_honoured_by_the_next_decision_on_both_instances(instances, reason):
    sessions, a, b = instances
    world, headers = current_world(sessions)
    tool = world.tool.slug
    # Both instances have decided for this hospital and tool: both hold its terms in memory.
    for n, instance in enumerate((a, b, a, b)):
        assert decide(instance.url, headers, tool, f"warm-{n}")["decision"] == "permit"
    with sessions() as s:
        CHANGES[reason](s, world)
        s.commit()
    for n, instance in enumerate((b, a)):
        answer = decide(instance.url, headers, tool, f"after-{n}")
        assert answer["decision"] == "deny" and reason in [r["code"] for r in answer["reasons"]], answer
