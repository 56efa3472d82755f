"""Validation at the edge, once: typed parsers for query parameters, path parameters and bodies.

Bad input is a 400 that changes nothing, never a 500 (Python's number or calendar limits) and
never a 503 (PostgreSQL refusing a NUL in text, or an integer beyond 64 bits, read as "the
database is down"). Two layers:

* :func:`screen_request` runs before every view (registered by :func:`register`): no control
  characters in the path or the query, no NUL in form fields, and any JSON body within the
  size and nesting limits and without a NUL escape.
* the typed parsers (:func:`bounded_int`, :func:`iso_date`, :func:`clean_text` and their
  ``query_*`` forms) turn one value into what the view needs, or raise :class:`InvalidInput`.

The edge answers :class:`InvalidInput` with a JSON 400 under /api, /oauth and /.well-known
(registry.edge), and with a plain 400 page in the web UI.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Mapping

from flask import Flask, request
from pydantic import AfterValidator, BeforeValidator

# Integers a column can hold on every database (PostgreSQL BIGINT, SQLite INTEGER).
INT64_MAX = 2**63 - 1
# Calendar dates the registry deals in: terms, audit periods, evaluations. Far enough both ways
# for any contract, near enough that adding a year or a day never leaves Python's calendar.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
# JSON bodies: nesting deeper than this is refused before parsing (no route needs more than 6).
MAX_JSON_DEPTH = 32
# Query values longer than this are refused (no filter or id is anywhere near it).
MAX_QUERY_VALUE = 2000

_DIGITS = re.compile(r"[0-9]{1,19}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Routes that judge the items of a JSON body one by one (POST /api/v1/usage: one bad event is
# one rejected index, never a failed batch), so a NUL inside one item is theirs to refuse.
PER_ITEM_ENDPOINTS = {"api.report"}
# Every byte but the quote and the four brackets, deleted to leave only what makes the nesting
# (built once: every request with a body is screened).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
# An escaped NUL in JSON text: \u0000 preceded by an even number of backslashes of its own.
_JSON_NUL = re.compile(rb'(?<!\\)(?:\\\\)*\\u0000', re.IGNORECASE)


class InvalidInput(ValueError):
    """Malformed input: a 400 that changes nothing. ``fields`` names each bad field and why.
    A ValueError, so that pydantic validators may use the parsers too."""

    def __init__(self, detail: str, fields: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail, self.fields = detail, fields or {}


def bounded_int(raw: object, name: str, *, low: int = 0, high: int = INT64_MAX) -> int:
    """A whole number written in ASCII digits (``str.isdigit`` also accepts "²" and "١", which
    ``int`` refuses or misreads), within ``[low, high]``."""
    if isinstance(raw, bool):
        raise InvalidInput(f"{name} must be a whole number", {name: "a whole number"})
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()):
        value = int(raw.strip())
    else:
        raise InvalidInput(f"{name} must be a whole number", {name: "a whole number"})
    if not low <= value <= high:
        raise InvalidInput(f"{name} is out of range", {name: f"between {low} and {high}"})
    return value


def iso_date(raw: object, name: str, *, earliest: date = EARLIEST_DATE,
             latest: date = LATEST_DATE) -> date:
    """A calendar date, ``YYYY-MM-DD``, between ``earliest`` and ``latest``."""
    if isinstance(raw, date):
        value = raw
    elif isinstance(raw, str) and _ISO_DAY.fullmatch(raw.strip()):
        try:
            value = date.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidInput(f"{name} is not a date", {name: "a date, YYYY-MM-DD"}) from None
    else:
        raise InvalidInput(f"{name} is not a date", {name: "a date, YYYY-MM-DD"})
    if not earliest <= value <= latest:
        raise InvalidInput(f"{name} is out of range",
                           {name: f"a date from {earliest.isoformat()} to {latest.isoformat()}"})
    return value



def _iso_day_only(value: object) -> object:
    # Pydantic's lax date also takes a number as Unix time ("0" is 1970-01-01) and a datetime
    # string: a day in the registry's API is written one way only, YYYY-MM-DD.
    # Parsed here, not by pydantic's date, so strict models (which refuse a string in Python
    # mode) and lax ones (query strings) read a day alike.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("a date, YYYY-MM-DD")


def _within_calendar(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}")
    return value


# The type of every day in an API model (query or body): documented as ``format: date``.
Day = Annotated[date, BeforeValidator(_iso_day_only), AfterValidator(_within_calendar)]


def clean_text(raw: object, name: str, *, max_length: int, required: bool = False) -> str:
    """Text without control characters (NUL above all: PostgreSQL refuses it) of bounded length."""
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} must be text", {name: "text"})
    if _CONTROL.search(raw):
        raise InvalidInput(f"{name} contains control characters", {name: "no control characters"})
    if len(raw) > max_length:
        raise InvalidInput(f"{name} is too long", {name: f"at most {max_length} characters"})
    if required and not raw.strip():
        raise InvalidInput(f"{name} is required", {name: "required"})
    return raw


def query_int(args: Mapping[str, str], name: str, default: int | None = None, *, low: int = 0,
              high: int = INT64_MAX) -> int | None:
    raw = args.get(name, "")
    return default if raw == "" else bounded_int(raw, name, low=low, high=high)


def query_date(args: Mapping[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    return iso_date(raw, name) if raw else None


def json_depth(raw: bytes) -> int:
    """How deeply the JSON text nests arrays and objects (strings are skipped).

    Without a regular expression, in a fixed number of passes over the text: escaped backslashes
    and escaped quotes go first (pairs from the left, as JSON reads them), so every quote left
    opens or closes a string; then everything but quotes and brackets; then the text between
    quotes. A string left open runs to the end, as it does for a JSON parser. (A pattern matching
    whole strings searched again from every quote after an open one: quadratic, a 256 KB body of
    escaped quotes held a worker for most of a minute before any token was checked.)
    """
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, delete=_NOT_STRUCTURE)
    brackets = b"".join(text.split(b'"')[0::2])
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def check_json_text(raw: bytes, *, nul_allowed: bool = False) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (Python's parser would recurse into a
    RecursionError) or carrying an escaped NUL (text no database column may hold)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidInput(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                           {"body": "too deeply nested"})
    if not nul_allowed and b"\\u0000" in raw.lower() and _JSON_NUL.search(raw):
        raise InvalidInput("the JSON body contains a NUL character", {"body": "no NUL characters"})


def screen_request() -> None:
    """Before every view: the checks that hold for every route, so no view has to repeat them."""
    path = request.path
    if _CONTROL.search(path):
        raise InvalidInput("the path contains control characters", {"path": "no control characters"})
    for name, value in request.args.items(multi=True):
        if _CONTROL.search(name) or _CONTROL.search(value) or len(value) > MAX_QUERY_VALUE:
            raise InvalidInput("invalid query parameter", {printable_name(name): "no control "
                               f"characters, at most {MAX_QUERY_VALUE} characters"})
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise InvalidInput("a form field contains a NUL character",
                                   {printable_name(name): "no NUL characters"})
    elif request.content_length or request.is_json:
        if not path.startswith(("/api/", "/oauth/")):
            # The web UI's forms post form data; Flask-WTF would read a JSON body as the form
            # and fail on anything but an object.
            raise InvalidInput("the web UI takes form data, not JSON", {"body": "form data"})
        raw = request.get_data(cache=True)  # size already bounded by MAX_CONTENT_LENGTH
        if raw:
            check_json_text(raw, nul_allowed=request.endpoint in PER_ITEM_ENDPOINTS)


def printable_name(name: str) -> str:
    return _CONTROL.sub("\ufffd", name)[:40]


def register(app: Flask) -> None:
    app.before_request(screen_request)

