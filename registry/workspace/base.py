"""The machinery every object type shares: description, listing, CSV, history.

Plain data in, plain data out: the web and API edges call :func:`list_rows`, :func:`get_row`,
:func:`export_statement`, :func:`csv_lines` and :func:`history`; the descriptions say what is special about each object.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from pydantic import BaseModel
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.changes import ChangeRecord
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.permissions import Permission
from registry.scope import Scope, restrict, scope_of
from registry.services.errors import NotFound, ValidationFailed

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 100_000


class Names:
    """Names of organisations and tools by id, loaded once per request: pages show names beside
    identifiers, never a bare id (both tables stay small: hundreds of rows at national scale)."""

    def __init__(self, session: Session):
        self._session = session
        self._orgs: dict[int, Organisation] | None = None
        self._tools: dict[int, Tool] | None = None

    @property
    def orgs(self) -> dict[int, Organisation]:
        if self._orgs is None:
            self._orgs = {o.id: o for o in self._session.scalars(select(Organisation))}
        return self._orgs

    @property
    def tools(self) -> dict[int, Tool]:
        if self._tools is None:
            self._tools = {t.id: t for t in self._session.scalars(select(Tool))}
        return self._tools

    def org(self, org_id: int | None) -> str:
        org = self.orgs.get(org_id) if org_id is not None else None
        return org.name if org is not None else ""

    def tool(self, tool_id: int | None) -> str:
        tool = self.tools.get(tool_id) if tool_id is not None else None
        return tool.name if tool is not None else ""


@dataclass(frozen=True)
class Column:
    """One column of a list (and of its CSV export).

    ``value(row, names)`` gives the plain value (CSV, sorting in Python never); ``kind`` says how
    the page renders it: text, link (to the row itself), org/tool (a name linking to that object),
    badge (a translated enumeration), day, moment, money, bool, list."""

    key: str
    label: Any
    value: Callable[[Any, Names], Any] | None = None
    sort: Any = None  # an SQL expression; None: not sortable
    kind: str = "text"
    enum: str | None = None  # the enumeration a badge translates (registry.workspace.labels)

    def get(self, row: Any, names: Names) -> Any:
        return self.value(row, names) if self.value is not None else getattr(row, self.key)


@dataclass(frozen=True)
class Filter:
    """A list filter: a text box, a date, or a choice from ``options``."""

    key: str
    label: Any
    apply: Callable[[Select, str], Select]
    options: Callable[[Session, Scope], list[tuple[str, str]]] | None = None
    kind: str = "text"


@dataclass
class Related:
    """A list of related objects on a detail page."""

    title: Any
    type_key: str
    rows: list[Any]
    columns: tuple[str, ...] = ()


@dataclass
class ObjectType:
    key: str  # the URL segment and API collection: "organisations"
    model: type
    singular: Any
    plural: Any
    read: Permission
    write: Permission | None
    columns: list[Column]
    title: Callable[[Any], str]
    public: type[BaseModel]  # the JSON shape (and its OpenAPI schema)
    to_public: Callable[[Any, Names], dict[str, Any]]
    filters: list[Filter] = field(default_factory=list)
    search: Callable[[str], Any] | None = None  # SQL condition for the search box
    default_sort: str = "id"
    url_key: Callable[[Any], str] = lambda row: str(row.id)
    lookup: Callable[[str], Any] | None = None  # SQL condition for a URL key (default: id)
    fields: Callable[[Any, Names], list[tuple[Any, Any, str]]] = lambda row, names: []
    related: Callable[[Session, Scope, Any], list[Related]] = lambda s, scope, row: []
    # The (table, id) pairs whose change records make up this object's history.
    history_refs: Callable[[Any], list[tuple[str, str]]] | None = None
    base: Callable[[], Select] | None = None
    # Shown in the navigation (False for objects reached only through others).
    in_nav: bool = True
    # What the web list offers beside its table (endpoint names of create pages, …).
    create_endpoint: str | None = None

    def statement(self) -> Select:
        return self.base() if self.base is not None else select(self.model)

    def refs(self, row: Any) -> list[tuple[str, str]]:
        if self.history_refs is not None:
            return self.history_refs(row)
        return [(self.model.__tablename__, str(row.id))]


OBJECT_TYPES: dict[str, ObjectType] = {}


def register(otype: ObjectType) -> ObjectType:
    if otype.key in OBJECT_TYPES:
        raise ValueError(f"object type {otype.key!r} registered twice")
    OBJECT_TYPES[otype.key] = otype
    return otype


def get_type(key: str) -> ObjectType:
    return OBJECT_TYPES[key]


# -- listing ---------------------------------------------------------------------------------------

@dataclass
class Listing:
    rows: list[Any]
    total: int
    page: int
    per_page: int
    sort: str
    filters: dict[str, str]
    q: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _bounded_int(raw: str | None, default: int, low: int, high: int, name: str) -> int:
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7:
        raise ValidationFailed("invalid list parameter", {name: f"a whole number from {low} to {high}"})
    value = int(raw)
    if not low <= value <= high:
        raise ValidationFailed("invalid list parameter", {name: f"a whole number from {low} to {high}"})
    return value


def clean_text(raw: str | None, limit: int = 200) -> str:
    """Search and filter text: bounded, without control characters (never sent to the database)."""
    text = (raw or "").strip()[:limit]
    return "".join(ch for ch in text if ch.isprintable())


def scoped(session: Session, actor: Actor, otype: ObjectType) -> tuple[Select, Scope]:
    actor.require(otype.read)
    scope = scope_of(session, actor)
    return restrict(otype.statement(), scope, otype.model), scope


def _ordered(session: Session, actor: Actor, otype: ObjectType,
             params: Mapping[str, str]) -> tuple[Select, Select, str, dict[str, str], str]:
    """The list's query: the rows the actor may see, filtered and searched, as it is (to count)
    and sorted (by the asked column, then the key: a stable order across pages and chunks)."""
    stmt, _scope = scoped(session, actor, otype)
    filters: dict[str, str] = {}
    for flt in otype.filters:
        value = clean_text(params.get(flt.key))
        if value:
            filters[flt.key] = value
            try:
                stmt = flt.apply(stmt, value)
            except ValueError as exc:
                raise ValidationFailed("invalid filter", {flt.key: str(exc)}) from None
    q = clean_text(params.get("q"))
    if q and otype.search is not None:
        stmt = stmt.where(otype.search(q))
    sortable = {c.key: c.sort for c in otype.columns if c.sort is not None}
    sort = clean_text(params.get("sort"), 64) or otype.default_sort
    name = sort.lstrip("-")
    if name not in sortable and name != "id":
        raise ValidationFailed("invalid sort", {"sort": "one of " + ", ".join(sorted(sortable))})
    expr = sortable.get(name, otype.model.id if hasattr(otype.model, "id") else None)
    pk = list(otype.model.__table__.primary_key.columns)[0]
    return stmt, stmt.order_by(expr.desc() if sort.startswith("-") else expr.asc(), pk), sort, filters, q


def list_rows(session: Session, *, actor: Actor, otype: ObjectType, params: Mapping[str, str]) -> Listing:
    """The rows the actor may see, filtered, searched, sorted and paginated, with their count."""
    unordered, stmt, sort, filters, q = _ordered(session, actor, otype, params)
    total = session.scalar(select(func.count()).select_from(unordered.order_by(None).subquery()))
    per_page = _bounded_int(params.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE, "per_page")
    page = _bounded_int(params.get("page"), 1, 1, MAX_PAGE, "page")
    rows = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Listing(rows, total or 0, page, per_page, sort, filters, q)


# Rows an export fetches at a time: the whole list is never in memory at once.
EXPORT_CHUNK = 1000


def export_statement(session: Session, *, actor: Actor, otype: ObjectType, params: Mapping[str, str],
                     chunk: int | None = None) -> Select:
    """The query of every row of the list (its filters, search and order; no pages), checked now
    (a bad filter is refused before anything is sent), to be read ``chunk`` rows at a time."""
    _unordered, stmt, *_ = _ordered(session, actor, otype, params)
    return stmt.execution_options(yield_per=chunk or EXPORT_CHUNK)


def get_row(session: Session, *, actor: Actor, otype: ObjectType, key: str) -> Any:
    """One object by its URL key, if the actor may see it (else: it does not exist for them)."""
    stmt, _scope = scoped(session, actor, otype)
    key = clean_text(key, 64)
    if otype.lookup is not None:
        stmt = stmt.where(otype.lookup(key))
    else:
        if not key.isascii() or not key.isdigit() or len(key) > 18:
            raise NotFound(f"no {otype.key} {key}")
        stmt = stmt.where(otype.model.id == int(key))
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no {otype.key} {key}")
    return row


def csv_lines(otype: ObjectType, rows: Iterable[Any], names: Names, labels: Callable[[Column], str],
              value_text: Callable[[Column, Any], str], flush_at: int = 64 * 1024) -> Iterator[str]:
    """The list as CSV, a piece at a time (the header first, then about ``flush_at`` characters
    of rows per piece): the same columns as the page, headers in the user's language."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([labels(c) for c in otype.columns])
    for row in rows:
        writer.writerow([_csv_safe(value_text(c, c.get(row, names))) for c in otype.columns])
        if out.tell() >= flush_at:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def contains(column: Any, q: str) -> Any:
    """Case-insensitive substring match with the user's text taken literally (no wildcards)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def _csv_safe(text: str) -> str:
    # A cell that starts with = + - @ is a formula to a spreadsheet (CSV injection): quote it.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def history(session: Session, refs: list[tuple[str, str]], limit: int = 200) -> list[ChangeRecord]:
    """Change records of the object (and the parts its description names), newest first."""
    if not refs:
        return []
    clause = or_(*[(ChangeRecord.object_type == t) & (ChangeRecord.object_id == i) for t, i in refs])
    return list(session.scalars(select(ChangeRecord).where(clause)
                                .order_by(ChangeRecord.created_at.desc(), ChangeRecord.id.desc())
                                .limit(limit)))
