"""Every change of terms moves the terms revision in its own transaction, so that the terms the
decision path keeps in memory are dropped on every instance before the next decision."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from registry.db.changes import ChangeRecord
from registry.services import terms_revision
from registry.services.terms_revision import TERMS_TABLES
from tests.factories import SYSTEM, make_world
from tests.services.test_change_records import _calls


def _extra_calls(w, clock):
    """Calls that reach terms tables the change-record table does not (a contract's buyers and tools)."""
    from registry.services import contracts

    return {"contracts.create_contract(buyers, tools)": lambda s: contracts.create_contract(
        s, actor=SYSTEM, clock=clock, reference="FW-T", title="T", vendor_id=w.vendor.id,
        starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), buyer_ids=[w.hospital.id],
        tools=[{"tool_id": w.tool.id, "unit_price_cents": 100}])}


def _all_calls(w, clock):
    return {**_calls(w, clock), **_extra_calls(w, clock)}


@pytest.mark.parametrize("name", sorted(_all_calls(None, None)))
def test_every_change_of_terms_bumps_the_revision(sessions, clock, name):
    """Each changing service: if it changed a terms table, the revision moved in its transaction."""
    session = sessions()
    world = make_world(session, clock)
    session.commit()
    since = session.scalar(select(ChangeRecord.id).order_by(ChangeRecord.id.desc()).limit(1)) or 0
    before = terms_revision.current(session)
    _all_calls(world, clock)[name](session)
    session.flush()
    tables = set(session.scalars(select(ChangeRecord.object_type).where(ChangeRecord.id > since)))
    if tables & TERMS_TABLES:
        assert terms_revision.current(session) > before, f"{name} changed {tables} without a bump"
        # The bump belongs to the change's transaction: rolled back with it.
        session.rollback()
        assert terms_revision.current(session) == before
    else:
        assert terms_revision.current(session) == before, f"{name} bumped for {tables}"
    session.close()


def test_each_terms_table_is_changed_by_one_of_the_calls_above(session, clock):
    """A test per terms table: the calls above must between them change every one. Self-contained
    (each call on the same world, undone by a savepoint): under pytest-xdist the parametrised
    cases run on several workers, so no worker has seen them all."""
    world = make_world(session, clock)
    session.flush()
    reached: set[str] = set()
    for call in _all_calls(world, clock).values():
        since = session.scalar(select(ChangeRecord.id).order_by(ChangeRecord.id.desc()).limit(1)) or 0
        savepoint = session.begin_nested()
        call(session)
        session.flush()
        reached.update(session.scalars(select(ChangeRecord.object_type).where(ChangeRecord.id > since)))
        savepoint.rollback()
    assert TERMS_TABLES <= reached, sorted(TERMS_TABLES - reached)


def test_changes_of_other_tables_leave_the_revision(session, clock):
    """Objections are looked up per decision, users are no terms: no cache is emptied for them."""
    from registry.services import objections, users

    world = make_world(session, clock)
    before = terms_revision.current(session)
    objections.record_objection(session, actor=SYSTEM, clock=clock, hospital_id=world.hospital.id,
                                pseudonym="ab" * 32, purposes=["research"], recorded_on=date(2026, 1, 1))
    users.create_user(session, actor=SYSTEM, clock=clock, email="t@example.org", roles=["viewer"],
                      password="long enough pw")
    assert terms_revision.current(session) == before
