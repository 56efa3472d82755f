"""Direct statements (registry/db/direct.py) store and read exactly what SQLAlchemy's own execution
does, and keep its error handling and its statement events."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy.exc
from sqlalchemy import JSON, Boolean, Column, Date, Integer, MetaData, String, Table, bindparam, event, insert, select

from registry.db.direct import Direct
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


def test_statement_listeners_see_direct_statements(probe):
    seen = []

    def listen(_conn, _cursor, statement, *_rest):
        seen.append(statement)

    event.listen(probe.engine, "before_cursor_execute", listen)
    try:
        _SELECT.first(probe, {"name": "x"})
    finally:
        event.remove(probe.engine, "before_cursor_execute", listen)
    assert len(seen) == 1 and "direct_probe" in seen[0]


def test_a_statement_that_leaves_a_python_default_to_sqlalchemy_is_refused(probe):
    # "kind" has a Python-side default that only SQLAlchemy's execution context would fill in.
    leaves_default = Direct(insert(_ROWS).values(id=bindparam("id"), name=bindparam("name"), at=bindparam("at"),
                                                 day=bindparam("day"), doc=bindparam("doc"),
                                                 flag=bindparam("flag")))
    with pytest.raises(ValueError, match="Python-side column defaults"):
        leaves_default.run(probe, dict(_VALUES, id=7, name="default"))
