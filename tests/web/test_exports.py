"""The CSV exports of the object lists are streamed: the rows are read from the database a chunk
at a time while the response is sent, never the whole file in memory; every row once, in the
list's order, with the page's columns as the header."""

from __future__ import annotations

import csv
import io

import pytest
from flask import request_finished
from sqlalchemy import select

from registry.db.decisions import Decision
from registry.workspace import base
from tests.factories import bearer, child_hand, make_world
from tests.web.helpers import login

HEADER = ["When", "Hospital", "Tool", "Purpose", "Outcome", "Reasons", "Decision"]


@pytest.fixture
def world(client, session, clock):
    world = make_world(session, clock)
    session.commit()
    headers = bearer(session, clock, world.gateway)
    for n in range(7):
        clock.advance(minutes=1 if n != 3 else 0)  # two at the same instant: the key orders them
        answer = client.post("/api/v1/decisions", headers=headers, json=child_hand(
            world.tool.slug, f"export-{n}").model_dump(mode="json", exclude_none=True))
        assert answer.status_code == 200, answer.get_json()
    return world


def _export(client, path: str):  # noqa: ANN001, ANN202
    """Whether the app's response is streamed (the test client's own always looks streamed) and
    the CSV's rows."""
    sent = []

    def note(_app, response, **_extra):  # noqa: ANN001, ANN003, ANN202
        sent.append(response)
    with request_finished.connected_to(note, client.application):
        response = client.get(path)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    return sent[0].is_streamed, list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_decisions_export_streams_every_row_once_in_order_in_chunks(client, session, world, monkeypatch):
    monkeypatch.setattr(base, "EXPORT_CHUNK", 3)  # 7 rows: three chunks
    login(client, "admin@demo.aifi.nl")
    streamed, rows = _export(client, f"/decisions/export.csv?hospital={world.hospital.id}&lang=en")
    assert streamed
    assert rows[0] == HEADER
    expected = list(session.scalars(select(Decision.id).where(Decision.hospital_id == world.hospital.id)
                                    .order_by(Decision.decided_at.desc(), Decision.id)))
    assert len(expected) == 7 and [r[-1] for r in rows[1:]] == expected
    assert {r[1] for r in rows[1:]} == {world.hospital.name}


def test_the_whole_export_has_every_decision_once_in_the_asked_order(client, session, world, monkeypatch):
    monkeypatch.setattr(base, "EXPORT_CHUNK", 2)
    login(client, "admin@demo.aifi.nl")
    _streamed, rows = _export(client, "/decisions/export.csv?sort=outcome&lang=en")
    expected = list(session.scalars(select(Decision.id).order_by(Decision.outcome, Decision.id)))
    assert len(expected) > 7 and [r[-1] for r in rows[1:]] == expected


def test_a_chunk_is_asked_of_the_database_not_the_whole_list(session, world, monkeypatch):
    """The export's query runs with yield_per: the database hands the rows over a chunk at a time."""
    from registry.workspace.types.decisions import DECISIONS
    from tests.factories import SYSTEM

    monkeypatch.setattr(base, "EXPORT_CHUNK", 3)
    stmt = base.export_statement(session, actor=SYSTEM, otype=DECISIONS,
                                 params={"hospital": str(world.hospital.id)})
    assert stmt.get_execution_options()["yield_per"] == 3
    result = session.scalars(stmt)
    assert len(result.fetchmany(3)) == 3 and len(result.all()) == 4


def test_a_bad_filter_of_an_export_is_refused_before_anything_is_sent(client):
    login(client, "admin@demo.aifi.nl")
    assert client.get("/decisions/export.csv?sort=password_hash").status_code == 400


def test_other_list_exports_stream_too(client):
    login(client, "admin@demo.aifi.nl")
    streamed, rows = _export(client, "/organisations/export.csv?kind=hospital&lang=nl")
    assert streamed and rows[0][0] == "Naam" and len(rows) > 1
