"""The gateway client keeps its usage queue, refused events, offline permits and bundle in a local
SQLite file: killed at any point of a batch and restarted, it reports nothing twice (the registry
counts each event id once) and loses nothing (an event is on disk before report() returns)."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from registry.client import RegistryClient
from registry.db.decisions import Decision, UsageEvent
from registry.services import gateways
from tests.client.test_client import go_offline, study
from tests.factories import SYSTEM, make_world


class Killed(BaseException):
    """The gateway process dies here: nothing after this point runs (not an Exception, so no
    handler in the client can catch it)."""


class DiesAfterSending(requests.Session):
    """Sends POST /api/v1/usage, lets the registry commit it, and dies before reading the answer."""

    def request(self, method, url, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN201
        response = super().request(method, url, *args, **kw)
        if method == "POST" and url.endswith("/api/v1/usage"):
            raise Killed()
        return response


@pytest.fixture
def world(session, clock):
    w = make_world(session, clock, purposes=("clinical-care",))
    session.commit()
    return w


@pytest.fixture
def gateway(session, clock, live, world, tmp_path):
    """Starts a gateway process on the same state file, as often as the test likes."""
    secret = gateways.add_credential(session, actor=SYSTEM, clock=clock, gateway=world.gateway,
                                     public_jwk=None)
    session.commit()
    started: list[RegistryClient] = []

    def start(http: requests.Session | None = None) -> RegistryClient:
        client = RegistryClient(live.url, world.gateway.client_id, client_secret=secret, now=clock.now,
                                backoff=0.01, retries=0, http=http, state_path=tmp_path / "gateway.db")
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


def _events(session, world) -> int:
    return session.scalar(select(func.count()).select_from(UsageEvent)
                          .where(UsageEvent.hospital_id == world.hospital.id))


def _confirmed(session, world) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Decision).where(
        Decision.hospital_id == world.hospital.id, Decision.reservation == "confirmed"))


def test_killed_after_the_registry_stored_a_batch_nothing_is_reported_twice(session, live, world,
                                                                            gateway):
    first = gateway(DiesAfterSending())
    decisions = [first.decide(tool=world.tool.slug, purpose="clinical-care", study=study(f"s{i}"))
                 for i in range(5)]
    for d in decisions:
        first.report(d, "completed")
    with pytest.raises(Killed):
        first.flush()
    assert _events(session, world) == 5  # the registry committed the batch; the answer was lost

    again = gateway()
    assert again.pending == 5  # the queue survived the kill
    result = again.flush()
    assert (result.accepted, result.duplicates, again.pending) == (0, 5, 0)
    assert _events(session, world) == 5 and _confirmed(session, world) == 5
    assert gateway().pending == 0  # and the answer is on disk too


def test_killed_before_sending_nothing_is_lost(session, live, world, gateway):
    first = gateway()
    d = first.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    event_id = first.report(d, "completed")
    # Killed right after report() returned: no flush ever ran.
    again = gateway()
    assert [e["event_id"] for e in again._queue] == [event_id]
    assert again.flush().accepted == 1 and _confirmed(session, world) == 1


def test_refused_events_are_final_and_kept_for_a_person(session, live, world, gateway):
    first = gateway()
    d = first.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    first.report(d, "completed")
    first.report("no-such-decision", "completed")
    result = first.flush()
    assert (result.accepted, [r["code"] for r in result.rejected]) == (1, ["DECISION_NOT_FOUND"])
    again = gateway()
    assert again.pending == 0  # never re-sent
    assert [r["event"]["decision_id"] for r in again.rejected] == ["no-such-decision"]
    assert again.flush().rejected == []


def test_offline_permits_and_the_bundle_survive_a_restart(session, live, world, gateway):
    first = gateway()
    allowance = next(t for t in first.refresh_bundle()["tools"]
                     if t["tool"] == world.tool.slug)["offline_allowance"]
    go_offline(live)
    d = first.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert d.permit and d.offline
    first.report(d, "completed")

    # Restarted while the registry is still unreachable: the verified bundle is there to decide
    # on, the permit is remembered (a retry is the same permit) and the allowance stays used.
    again = gateway()
    assert again.bundle is not None
    assert again.decide(tool=world.tool.slug, purpose="clinical-care",
                        study=study("s1")).offline_id == d.offline_id
    assert again._offline_used[(again.bundle["iat"], world.tool.slug)] == 1
    assert len([again.decide(tool=world.tool.slug, purpose="clinical-care", study=study(f"n{i}"))
                for i in range(allowance - 1)]) == allowance - 1
    assert again.decide(tool=world.tool.slug, purpose="clinical-care",
                        study=study("one-more")).reasons[0]["code"] == "OFFLINE_ALLOWANCE_USED"

    live.unavailable.clear()
    third = gateway()
    result = third.flush()
    # s1 regularised and reported; the others wait for their usage outcome.
    assert result.accepted == 1 and d.offline_id not in third.offline_records
    assert len(third.offline_records) == allowance - 1
    row = session.scalar(select(Decision).where(Decision.study_key == "s1",
                                                Decision.hospital_id == world.hospital.id))
    assert row.reservation == "confirmed"
    assert gateway().flush().accepted == 0  # reported once, not again after another restart
