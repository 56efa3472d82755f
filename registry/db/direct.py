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

from typing import Any, Iterable, Mapping, NamedTuple, NoReturn, Sequence

import sqlalchemy.exc

from sqlalchemy import ARRAY, JSON, Table, any_, bindparam, insert, literal
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeDecorator


class JsonText(str):
    """A JSON document already encoded, exactly as its column's bind processor (``json.dumps``)
    would have encoded it: :class:`Direct` and :class:`BulkInsert` store it as it is. A usage
    report writes a thousand audit entries with two documents each; encoding them from dicts
    through the processor was a tenth of the report's time. The caller answers for the text
    being what ``json.dumps`` gives (``tests/usage`` compares them)."""

    __slots__ = ()


def _bind_processor(type_: Any, dialect: Any) -> Any:
    """The column type's bind processor, letting :class:`JsonText` through a JSON column's."""
    processor = type_.dialect_impl(dialect).bind_processor(dialect)
    if processor is not None and isinstance(type_, JSON):
        return lambda value, encode=processor: value if value.__class__ is JsonText else encode(value)
    return processor


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
                processor = _bind_processor(bind.type, dialect)
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
        return _run_on_cursor(conn, c.sql, self._args(conn, c, params or {}), many=False)

    def execute_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """The statement once per row, in one DBAPI ``executemany``."""
        c = self._compiled(conn.dialect)
        args = [self._args(conn, c, row) for row in rows]
        _run_on_cursor(conn, c.sql, args, many=True).close()

    @staticmethod
    def _args(conn: Connection, c: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        try:
            values = c.compiled.construct_params(params, _check=True)
            for name, processor in c.processors.items():
                values[name] = processor(values[name])
        except sqlalchemy.exc.InvalidRequestError:
            raise  # a parameter missing: the caller's mistake, as SQLAlchemy reports it
        except Exception as exc:  # a value its column type cannot take (a bind processor's error)
            _fail(conn, exc, c.sql, params)
        return tuple(values[n] for n in c.order) if c.order is not None else values

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


def _run_on_cursor(conn: Connection, sql: str, args: Any, *, many: bool) -> Any:
    # The connection the session's transaction already began (BEGIN IMMEDIATE on SQLite).
    cursor = conn.connection.dbapi_connection.cursor()
    _announce(conn, cursor, sql, args, many)
    try:
        if many:
            cursor.executemany(sql, args)
        else:
            cursor.execute(sql, args)
    except conn.dialect.loaded_dbapi.Error as exc:
        _fail(conn, exc, sql, args, cursor)
    return cursor


def _announce(conn: Connection, cursor: Any, sql: str, args: Any, many: bool) -> None:
    """What ``Connection.execute`` tells ``before_cursor_execute`` listeners (statement counts)."""
    if conn._has_events or conn.engine._has_events:
        for listener in conn.dispatch.before_cursor_execute:
            listener(conn, cursor, sql, args, None, many)


def _fail(conn: Connection, exc: Exception, sql: str, args: Any, cursor: Any = None) -> NoReturn:
    """SQLAlchemy's own handling of an error in a statement: a DBAPI error is wrapped as
    ``DBAPIError`` (a lost connection invalidated), any other (a bind processor refusing a value)
    as ``StatementError``, exactly as ``Connection.execute`` would raise them."""
    conn._handle_dbapi_exception(exc, sql, args, cursor, None)
    raise exc  # not reached: the call above always raises


def with_defaults(table: Table, keys: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    """Bound values for ``keys`` and the table's scalar defaults for the other columns, spelled
    out: statements run past SQLAlchemy's execution layer (and INSERT … SELECT) do not fill in
    Python-side defaults by themselves."""
    values: dict[str, Any] = {k: bindparam(f"{prefix}{k}", type_=table.c[k].type) for k in keys}
    values.update({c.key: literal(c.default.arg, c.type) for c in _scalar_defaults(table, keys)})
    return values


def _scalar_defaults(table: Table, keys: tuple[str, ...]) -> list[Any]:
    """The columns not in ``keys`` with a Python-side scalar default. A callable default is
    not filled in here: :class:`Direct` refuses a statement that would need one."""
    return [c for c in table.columns if c.key not in keys and c.default is not None and c.default.is_scalar]


class BulkInsert:
    """Many rows with the same columns into one table, in the caller's transaction.

    On PostgreSQL one ``COPY … FROM STDIN``: a thousand usage events or audit entries are one
    statement, not a thousand INSERTs for the server to run one by one (the usage report's largest
    cost, issue 13). Elsewhere (SQLite, in process) one ``executemany`` of a compiled INSERT. Both
    store what an ORM insert would: every value goes through its column type's bind processor, and
    the table's Python-side scalar defaults are written out for the columns not given. Constraints
    hold either way (COPY checks them as INSERT does), and an error is SQLAlchemy's, as for
    :class:`Direct`.
    """

    def __init__(self, table: Table, keys: tuple[str, ...]) -> None:
        self.table, self.keys = table, tuple(keys)
        self._defaults = {c.key: c.default.arg for c in _scalar_defaults(table, self.keys)}
        self._insert = Direct(insert(table).values(with_defaults(table, self.keys)))
        self._copy_by_dialect: dict[str, tuple[str, tuple[Any, ...], tuple[Any, ...]]] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if conn.dialect.name == "postgresql":
            self._copy(conn, rows)
        else:
            self._insert.execute_many(conn, rows)

    def _copy_plan(self, dialect: Any) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
        plan = self._copy_by_dialect.get(dialect.name)
        if plan is None:
            columns = [self.table.c[k] for k in (*self.keys, *self._defaults)]
            quote = dialect.identifier_preparer
            sql = (f"COPY {quote.format_table(self.table)} "
                   f"({', '.join(quote.quote(c.name) for c in columns)}) FROM STDIN")
            processors = tuple(_bind_processor(c.type, dialect) for c in columns)
            plan = self._copy_by_dialect[dialect.name] = (sql, processors, tuple(self._defaults.values()))
        return plan

    def _copy(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        sql, processors, defaults = self._copy_plan(conn.dialect)
        keys = self.keys
        cursor = conn.connection.dbapi_connection.cursor()
        _announce(conn, cursor, sql, (), True)
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    values = [row[k] for k in keys]
                    values.extend(defaults)
                    copy.write_row([v if p is None else p(v) for p, v in zip(processors, values)])
        except Exception as exc:  # the server's refusal, or a bind processor's (COPY is then ended)
            _fail(conn, exc, sql, (), cursor)
        finally:
            cursor.close()


class _ArrayText(TypeDecorator):
    """An array parameter given as one text in PostgreSQL's array syntax: rendered with the array
    type's cast (``%(p)s::VARCHAR(36)[]``), so that the server reads the text as a constant array
    and the planner sees its elements (an index scan); passed to the driver as it is."""

    impl = ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def one_of(column: Any, values: Iterable[Any], dialect: Any) -> Any:
    """``column IN (values)`` for a large list (a usage batch's thousand ids). On PostgreSQL it is
    ``column = ANY(%(array)s)``, one array parameter: an IN list is rendered as a thousand
    placeholders that psycopg parses again on every call (its query cache skips long queries),
    a tenth of a usage report's time. Elsewhere the plain IN.

    A list of strings goes as one text in the array syntax: psycopg's array dumper runs a regular
    expression over every element to decide whether to quote it, which cost a usage report
    another tenth of its time. Here every element is quoted, with its quotes and backslashes
    escaped, which is correct for any text. (Not ``CAST(text AS type[])``: array input is only
    "stable", so the cast is not folded into a constant, the planner cannot use the primary key,
    and the cast runs again for every row it filters.)
    """
    values = list(values)
    if dialect.name != "postgresql":
        return column.in_(values)
    if values and all(type(v) is str for v in values):
        text = '{"' + '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values) + '"}'
        return column == any_(bindparam(None, text, type_=_ArrayText(column.type)))
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
