"""SIGKILL the served registry in the middle of a load from several client threads, restart it:
every permit a client received is stored, no quota is reserved without its decision, every
acknowledged usage event is counted once, and the audit chain verifies (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import func, select

from registry.actor import Actor
from registry.clock import SystemClock
from registry.db.contracts import QuotaCounter
from registry.db.decisions import Decision, UsageEvent
from registry.keys import load_or_create
from registry.services.audit import verify_audit_trail
from tests.conftest import new_database
from tests.reliability.served import current_world, decide, migrated, serve

THREADS = 4
LOAD_SECONDS = 1.5


@pytest.fixture
def database(tmp_path):
    url, drop = new_database(tmp_path)
    yield url
    drop()


def _load(url: str, headers: dict, tool: str, stop: threading.Event, permits: set, acked: set,
          lock: threading.Lock) -> None:
    """One gateway thread: decide, and report each permit's usage, until the server is gone."""
    http = requests.Session()
    while not stop.is_set():
        try:
            answer = decide(url, headers, tool, uuid.uuid4().hex, http)
            if answer["decision"] != "permit":
                continue
            with lock:
                permits.add(answer["decision_id"])
            event = {"event_id": uuid.uuid4().hex, "decision_id": answer["decision_id"],
                     "outcome": "completed", "occurred_at": SystemClock().now().isoformat()}
            response = http.post(url + "/api/v1/usage", json={"events": [event]}, headers=headers,
                                 timeout=10)
            if response.status_code == 200 and response.json()["accepted"] == 1:
                with lock:
                    acked.add(event["event_id"])
        except (requests.RequestException, ValueError, AssertionError):
            # The server was killed under us: refused, timed out, or cut off in the middle of an
            # answer (ChunkedEncodingError, which is not a ConnectionError). An answer cut off was
            # never received, so its permit is not one the client can hold the registry to.
            return


def test_sigkill_under_load_loses_nothing_and_the_audit_chain_verifies(database, tmp_path):
    engine, sessions = migrated(database)
    world, headers = current_world(sessions, quota_limit=100_000)
    server = serve(database, tmp_path / "keys")
    permits: set[str] = set()
    acked: set[str] = set()
    lock, stop = threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_load, args=(server.url, headers, world.tool.slug, stop,
                                                    permits, acked, lock)) for _ in range(THREADS)]
    try:
        for t in threads:
            t.start()
        time.sleep(LOAD_SECONDS)
        # On a loaded machine the first answers can take longer than LOAD_SECONDS: the kill must
        # still land mid-load, after some permits and usage reports were answered (bounded wait).
        started = time.monotonic()
        while not (permits and acked) and time.monotonic() - started < 30:
            time.sleep(0.05)
        server.kill()  # mid-load: requests in flight, transactions open, a seal perhaps running
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.stop()
    assert permits and acked, "the load never got going"

    server = serve(database, tmp_path / "keys")
    try:
        # The restarted registry answers, on the same terms and counters.
        assert decide(server.url, headers, world.tool.slug, "after-restart")["decision"] == "permit"
    finally:
        server.stop()

    with sessions() as s:
        stored = set(s.scalars(select(Decision.id).where(Decision.id.in_(permits))))
        assert stored == permits, "a permit a client received is not in the database"
        # A unit of quota is held exactly by the decisions that reserved it (a reservation never
        # outlives a rolled-back decision, nor a decision its reservation).
        holding = s.scalar(select(func.count()).select_from(Decision).where(
            Decision.licence_id == world.licence.id, Decision.reservation.in_(("reserved", "confirmed"))))
        assert s.scalar(select(QuotaCounter.used).where(QuotaCounter.licence_id == world.licence.id)) == holding
        # Every acknowledged usage event is stored once, and confirmed exactly its decision.
        events = s.scalars(select(UsageEvent).where(UsageEvent.event_id.in_(acked))).all()
        assert len(events) == len(acked)
        confirmed = s.scalar(select(func.count()).select_from(Decision).where(
            Decision.hospital_id == world.hospital.id, Decision.reservation == "confirmed"))
        assert confirmed == s.scalar(select(func.count()).select_from(UsageEvent).where(
            UsageEvent.hospital_id == world.hospital.id, UsageEvent.outcome == "completed"))
        report = verify_audit_trail(s, actor=Actor.system("crash-test"), clock=SystemClock(),
                                    signer=load_or_create(tmp_path / "keys"))
        s.commit()
        assert report.ok, report
    engine.dispose()
