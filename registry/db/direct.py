"""Core statements run straight on the DBAPI cursor of the caller's transaction.

The decision path runs the same handful of statements for every study in the country. SQLAlchemy
builds an execution context for each call (cache key, parameter processing, result metadata,
events): on an indexed lookup that costs about ten times the statement itself. A
:class:`Direct` statement is compiled by SQLAlchemy once per dialect, with SQLAlchemy's own bind
processors (JSON, dates and times as the column types store them), and then run on the cursor
of the connection the session already holds: the same SQL, the same stored values, the same
transaction — only the per-call layers are gone.

What those layers did and is kept here: ``before_cursor_execute`` listeners still see every
statement (the statement counts of the benchmarks and tests), and a DBAPI error goes through
SQLAlchemy's own handling (wrapped as ``sqlalchemy.exc.DBAPIError``, a lost connection
invalidated), so an unreachable database is still the 503 the edges make of it.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement


class _Compiled(NamedTuple):
    sql: str
    compiled: Any
    order: tuple[str, ...] | None  # positional parameter order (qmark), or None for named
    processors: dict[str, Any]
    results: tuple[Any, ...]  # a result processor per selected column (None: the value as is)


class Direct:
    """One Core statement, compiled once per dialect; see the module docstring."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Any) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            # Python-side column defaults are filled in by SQLAlchemy's execution context, which is
            # skipped here: a statement that needs one must spell it out (or this would store NULL).
            if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
                raise ValueError("a Direct statement must not rely on Python-side column defaults")
            processors = {}
            for bind, name in compiled.bind_names.items():  # names as rendered (anonymous ones resolved)
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            order = tuple(compiled.positiontup) if compiled.positional else None
            # What a SELECT (or RETURNING) gives back, typed as SQLAlchemy would (SQLite keeps
            # dates and times as text, for one).
            columns = getattr(self.statement, "selected_columns", None) or ()
            results = tuple(col.type.dialect_impl(dialect).result_processor(dialect, None) for col in columns)
            found = self._by_dialect[dialect.name] = _Compiled(compiled.string, compiled, order, processors,
                                                               results)
        return found

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """Run on ``conn``'s DBAPI connection (the transaction ``conn`` holds); the DBAPI cursor
        is returned, for ``fetchone()``/``fetchall()`` of plain tuples."""
        c = self._compiled(conn.dialect)
        values = c.compiled.construct_params(params or {}, _check=True)
        for name, processor in c.processors.items():
            values[name] = processor(values[name])
        args: Sequence[Any] | dict[str, Any] = tuple(values[n] for n in c.order) if c.order is not None else values
        # The connection the session's transaction already began (BEGIN IMMEDIATE on SQLite).
        dbapi_connection = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        sql = c.sql
        if conn._has_events or conn.engine._has_events:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, sql, args, None, False)
        try:
            cursor.execute(sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            # SQLAlchemy's own handling: wraps the error, invalidates a lost connection, raises.
            conn._handle_dbapi_exception(exc, sql, args, cursor, None)
            raise  # not reached: the call above always raises
        return cursor

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> tuple | None:
        """The first row as a plain tuple, its values processed by the column types (or None)."""
        cursor = self.execute(conn, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        results = self._by_dialect[conn.dialect.name].results
        if not any(results):
            return tuple(row)
        return tuple(value if p is None or value is None else p(value) for p, value in zip(results, row))

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> None:
        self.execute(conn, params).close()
