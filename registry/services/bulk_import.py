"""Bulk import of existing call-off licences from a table (CSV or XLSX, read by registry/imports.py).

Every line goes through :func:`registry.services.contracts.create_licence` with its rules (term
inside the framework's, ceiling, covered tool), all in one savepoint; every line's errors are
collected, and if any line failed the savepoint is rolled back so that nothing of the file stays."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.clock import Clock
from registry.db.contracts import FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.imports import ImportRefused, LineError
from registry.permissions import Permission
from registry.scope import restrict, scope_of
from registry.services import contracts
from registry.services.errors import ValidationFailed

LICENCE_COLUMNS = ("reference", "contract", "hospital", "tool", "starts_on", "ends_on", "quota_limit",
                   "quota_period", "on_quota_exhausted")
# Columns that may be left empty, with what an empty cell means.
_DEFAULTS = {"quota_limit": "", "quota_period": "term", "on_quota_exhausted": "deny"}
_REFERENCE = re.compile(r"^[\x21-\x7e]{1,64}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The service's field names as the file's columns.
_COLUMN_OF = {"contract_id": "contract", "hospital_id": "hospital", "tool_id": "tool"}


def check_columns(columns: Sequence[str], expected: Sequence[str]) -> list[LineError]:
    """Missing and unknown columns, each an error of the header (line 1)."""
    errors = [LineError(1, c, "missing column") for c in expected if c not in columns]
    errors += [LineError(1, c or "(empty)", f"unknown column; expected: {', '.join(expected)}")
               for c in columns if c not in expected]
    seen: set[str] = set()
    for c in columns:
        if c in seen and c in expected:
            errors.append(LineError(1, c, "column given twice"))
        seen.add(c)
    return errors


class _Lookup:
    """The contracts, hospitals and tools a file names, looked up once each within the actor's scope."""

    def __init__(self, session: Session, actor: Actor):
        self.session, self.scope = session, scope_of(session, actor)
        self._cache: dict[tuple[str, str], int | None] = {}

    def _one(self, model: Any, column: Any, value: str, *where: Any) -> int | None:
        key = (model.__name__, value)
        if key not in self._cache:
            stmt = restrict(select(model.id).where(column == value, *where), self.scope, model)
            self._cache[key] = self.session.scalar(stmt)
        return self._cache[key]

    def contract(self, reference: str) -> int | None:
        return self._one(FrameworkContract, FrameworkContract.reference, reference)

    def hospital(self, ura: str) -> int | None:
        return self._one(Organisation, Organisation.ura, ura, Organisation.kind == "hospital",
                         Organisation.status == "active")

    def tool(self, slug: str) -> int | None:
        return self._one(Tool, Tool.slug, slug)


def _day(value: str) -> date | None:
    if not _DAY.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _licence_args(row: Mapping[str, str], lookup: _Lookup, line: int,
                  errors: list[LineError]) -> dict[str, Any] | None:
    """The keyword arguments of create_licence for one row, or None with its errors added."""
    found: list[LineError] = []

    def bad(column: str, message: str) -> None:
        found.append(LineError(line, column, message))

    cell = {c: (row.get(c) or "").strip() or _DEFAULTS.get(c, "") for c in LICENCE_COLUMNS}
    if not _REFERENCE.match(cell["reference"]):
        bad("reference", "required: 1 to 64 characters without spaces")
    ids = {}
    for column, find, what in (("contract", lookup.contract, "no framework contract with this reference"),
                               ("hospital", lookup.hospital, "no active hospital with this URA"),
                               ("tool", lookup.tool, "no tool with this slug")):
        ids[column] = find(cell[column]) if cell[column] else None
        if ids[column] is None:
            bad(column, f"{what}: {cell[column]!r}" if cell[column] else "required")
    days = {}
    for column in ("starts_on", "ends_on"):
        days[column] = _day(cell[column])
        if days[column] is None:
            bad(column, "a date as YYYY-MM-DD is required")
    quota = cell["quota_limit"]
    if quota and not (quota.isascii() and quota.isdigit() and len(quota) <= 9):
        bad("quota_limit", "a whole number of studies, or empty for no quota")
    if cell["quota_period"] not in ("term", "year", "month"):
        bad("quota_period", "one of term, year, month")
    if cell["on_quota_exhausted"] not in ("deny", "overage"):
        bad("on_quota_exhausted", "one of deny, overage")
    if found:
        errors.extend(found)
        return None
    return {"reference": cell["reference"], "contract_id": ids["contract"], "hospital_id": ids["hospital"],
            "tool_id": ids["tool"], "starts_on": days["starts_on"], "ends_on": days["ends_on"],
            "quota_limit": int(quota) if quota else None, "quota_period": cell["quota_period"],
            "on_quota_exhausted": cell["on_quota_exhausted"]}


def import_licences(session: Session, *, actor: Actor, clock: Clock, rows: Sequence[Mapping[str, str]],
                    columns: Sequence[str] | None = None, lines: Sequence[int] | None = None,
                    errors: Sequence[LineError] = ()) -> list[Licence]:
    """Create one licence per row, all or none: :class:`ImportRefused` names every bad line.

    ``columns`` is the file's header (by default the keys of the first row); ``lines`` each row's
    line in the file (by default the row's position after a header line); ``errors`` what reading
    the file already found."""
    actor.require(Permission.CONTRACTS_WRITE)  # first: an unauthorised caller learns nothing
    found = list(errors) + check_columns(list(columns if columns is not None else (rows[0] if rows else [])),
                                         LICENCE_COLUMNS)
    if found and any(e.line == 1 for e in found):
        raise ImportRefused(found)  # with the wrong columns, every line would be wrong the same way
    if not rows:
        raise ImportRefused([LineError(0, "", "the file holds no licences")])
    lines = list(lines) if lines is not None else list(range(2, len(rows) + 2))
    lookup, first_line, created = _Lookup(session, actor), {}, []
    # One savepoint for the whole file: raising inside it rolls back every line already created.
    with session.begin_nested():
        for line, row in zip(lines, rows):
            reference = (row.get("reference") or "").strip()
            if reference in first_line:
                found.append(LineError(line, "reference", f"the same reference as line {first_line[reference]}"))
                continue
            first_line.setdefault(reference, line)
            if reference and session.scalar(select(Licence.id).where(Licence.reference == reference)) is not None:
                found.append(LineError(line, "reference", "a licence with this reference already exists"))
                continue
            args = _licence_args(row, lookup, line, found)
            if args is None:
                continue
            try:
                created.append(contracts.create_licence(session, actor=actor, clock=clock, **args))
            except ValidationFailed as exc:
                for key, message in (exc.fields or {"": exc.detail}).items():
                    found.append(LineError(line, _COLUMN_OF.get(key, key), message))
        if found:
            raise ImportRefused(found)
    return created
