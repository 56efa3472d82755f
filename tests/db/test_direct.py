"""Direct statements and bulk inserts (registry/db/direct.py) store and read exactly what
SQLAlchemy's own execution does, and keep its error handling and its statement events. The bulk
insert is COPY on PostgreSQL and executemany on SQLite: these tests run on both (CI's two legs)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timezone

import pytest
import sqlalchemy.exc
from sqlalchemy import JSON, Boolean, Column, Date, Integer, MetaData, String, Table, bindparam, event, insert, select

from registry.db.direct import BulkInsert, Direct
from registry.db.types import UTCDateTime

_META = MetaData()
_ROWS = Table("direct_probe", _META,
              Column("id", Integer, primary_key=True, autoincrement=False),
              Column("name", String(40), unique=True, nullable=False),
              Column("at", UTCDateTime, nullable=False),
              Column("day", Date, nullable=False),
              Column("doc", JSON, nullable=False),
              Column("flag", Boolean, nullable=False),
              Column("kind", String(10), nullable=False, default="plain"))

_VALUES = {"at": datetime(2026, 11, 30, 6, 30, 15, 123456, tzinfo=timezone.utc), "day": date(2026, 12, 31),
           "doc": {"reasons": [{"code": "NO_LICENCE"}], "n": 3, "text": "één"}, "flag": True}
_INSERT = Direct(insert(_ROWS).values(id=bindparam("id"), name=bindparam("name"), at=bindparam("at"),
                                      day=bindparam("day"), doc=bindparam("doc"), flag=bindparam("flag"),
                                      kind="direct"))
_SELECT = Direct(select(_ROWS.c.at, _ROWS.c.day, _ROWS.c.doc, _ROWS.c.flag, _ROWS.c.kind)
                 .where(_ROWS.c.name == bindparam("name")))


@pytest.fixture
def probe(connection):
    _META.create_all(connection)  # inside the test's transaction: rolled back with it
    return connection


def test_a_direct_insert_stores_what_sqlalchemy_stores(probe):
    probe.execute(insert(_ROWS), dict(_VALUES, id=1, name="core", kind="direct"))
    _INSERT.run(probe, dict(_VALUES, id=2, name="direct"))
    core, direct = (probe.execute(select(_ROWS).where(_ROWS.c.name == n)).one() for n in ("core", "direct"))
    assert direct._mapping["at"] == core._mapping["at"] == _VALUES["at"]
    assert [direct._mapping[k] for k in ("day", "doc", "flag", "kind")] == \
        [core._mapping[k] for k in ("day", "doc", "flag", "kind")] == [_VALUES["day"], _VALUES["doc"], True, "direct"]


def test_a_direct_select_gives_values_typed_as_the_columns(probe):
    _INSERT.run(probe, dict(_VALUES, id=3, name="typed"))
    assert _SELECT.first(probe, {"name": "typed"}) == (_VALUES["at"], _VALUES["day"], _VALUES["doc"], True, "direct")
    assert _SELECT.first(probe, {"name": "absent"}) is None


def test_a_database_error_is_sqlalchemys_error(probe):
    _INSERT.run(probe, dict(_VALUES, id=4, name="twice"))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        _INSERT.run(probe, dict(_VALUES, id=5, name="twice"))


def test_a_missing_parameter_is_refused_before_the_database(probe):
    with pytest.raises(sqlalchemy.exc.InvalidRequestError):
        _INSERT.run(probe, {"id": 6, "name": "incomplete"})


@contextmanager
def statements_seen(probe):
    """The statements ``before_cursor_execute`` listeners see meanwhile."""
    seen: list[str] = []

    def listen(_conn, _cursor, statement, *_rest):
        seen.append(statement)

    event.listen(probe.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(probe.engine, "before_cursor_execute", listen)


def test_statement_listeners_see_direct_statements(probe):
    with statements_seen(probe) as seen:
        _SELECT.first(probe, {"name": "x"})
    assert len(seen) == 1 and "direct_probe" in seen[0]


def test_a_statement_that_leaves_a_python_default_to_sqlalchemy_is_refused(probe):
    # "kind" has a Python-side default that only SQLAlchemy's execution context would fill in.
    leaves_default = Direct(insert(_ROWS).values(id=bindparam("id"), name=bindparam("name"), at=bindparam("at"),
                                                 day=bindparam("day"), doc=bindparam("doc"),
                                                 flag=bindparam("flag")))
    with pytest.raises(ValueError, match="Python-side column defaults"):
        leaves_default.run(probe, dict(_VALUES, id=7, name="default"))


_BULK = BulkInsert(_ROWS, ("id", "name", "at", "day", "doc", "flag"))


def test_a_bulk_insert_stores_what_sqlalchemy_stores_with_the_defaults_filled_in(probe):
    odd = {"at": datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone.utc), "day": date(2026, 1, 1),
           # JSON with what COPY's text format must escape: tabs, newlines, backslashes, quotes.
           "doc": {"text": "tab\there\nnew line \\ back \"quoted\"", "none": None, "list": [1, 2.5]},
           "flag": False}
    rows = [dict(_VALUES, id=10, name="bulk-1"), dict(odd, id=11, name="bulk-2\ttab")]
    _BULK.run(probe, rows)
    probe.execute(insert(_ROWS), [dict(_VALUES, id=12, name="core-1"), dict(odd, id=13, name="core-2")])
    stored = {r.name: r._mapping for r in probe.execute(select(_ROWS).where(_ROWS.c.id >= 10))}
    for bulk, core, given in (("bulk-1", "core-1", _VALUES), ("bulk-2\ttab", "core-2", odd)):
        assert {k: stored[bulk][k] for k in ("at", "day", "doc", "flag")} == \
            {k: stored[core][k] for k in ("at", "day", "doc", "flag")} == given
        # "kind" was not given: its Python-side default is written, as an ORM insert would.
        assert stored[bulk]["kind"] == stored[core]["kind"] == "plain"


def test_a_bulk_insert_of_nothing_runs_no_statement(probe):
    with statements_seen(probe) as seen:
        _BULK.run(probe, [])
        _BULK.run(probe, [dict(_VALUES, id=20, name="one")])
    assert len(seen) == 1 and "direct_probe" in seen[0]


def test_a_bulk_insert_that_breaks_a_constraint_is_sqlalchemys_error_and_stores_nothing(probe):
    savepoint = probe.begin_nested()
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        _BULK.run(probe, [dict(_VALUES, id=30, name="first"), dict(_VALUES, id=31, name="first")])
    savepoint.rollback()
    assert probe.execute(select(_ROWS.c.id).where(_ROWS.c.id.in_([30, 31]))).all() == []


@pytest.mark.parametrize("how", ["direct", "bulk"])
def test_a_value_its_column_type_refuses_is_sqlalchemys_statement_error(probe, how):
    """As Connection.execute reports it: the usage report treats a StatementError that is not a
    DBAPIError as one unstorable event, where a bare ValueError would be a 500 for the batch."""
    naive = dict(_VALUES, id=40, name="naive", at=datetime(2026, 11, 30, 6, 30))
    savepoint = probe.begin_nested()
    with pytest.raises(sqlalchemy.exc.StatementError, match="naive datetime") as raised:
        if how == "direct":
            _INSERT.run(probe, naive)
        else:
            _BULK.run(probe, [dict(_VALUES, id=41, name="fine"), naive])
    savepoint.rollback()
    assert not isinstance(raised.value, sqlalchemy.exc.DBAPIError)
    assert probe.execute(select(_ROWS.c.id).where(_ROWS.c.id.in_([40, 41]))).all() == []


_AWKWARD = ["plain", "", "NULL", "null", 'a "quoted" name', "back\\slash", "\\", '\\"', "{braces}",
            "comma,separated", "semi;colon", " spaced ", "tab\there", "één", "\u3000ideographic space",
            "x" * 40]


@pytest.mark.parametrize("kind", ["strings", "integers"])
def test_one_of_finds_exactly_the_rows_listed(probe, kind):
    """one_of is the plain IN on SQLite; on PostgreSQL an array (for strings one text in array
    syntax, every element quoted by us): awkward texts must match themselves and nothing else."""
    from registry.db.direct import one_of

    for n, name in enumerate(_AWKWARD):
        probe.execute(insert(_ROWS), dict(_VALUES, id=100 + n, name=name))
    if kind == "strings":
        wanted = [name for n, name in enumerate(_AWKWARD) if n % 2 == 0] + ["absent", '"', "NULL "]
        column, expected = _ROWS.c.name, {name for n, name in enumerate(_AWKWARD) if n % 2 == 0}
    else:
        wanted = [100 + n for n in range(0, len(_AWKWARD), 3)] + [99_999]
        column, expected = _ROWS.c.id, {_AWKWARD[n] for n in range(0, len(_AWKWARD), 3)}
    found = probe.execute(select(_ROWS.c.name).where(one_of(column, wanted, probe.dialect))).scalars().all()
    assert sorted(found) == sorted(expected)
    assert probe.execute(select(_ROWS.c.name).where(one_of(column, [], probe.dialect))).all() == []
