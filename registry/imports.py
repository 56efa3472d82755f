"""Reading an uploaded table (CSV or XLSX) into rows of text, for the bulk imports of the
procurement workspace. Only the shape is checked here (encoding, size, header); what a cell
means is the importing service's business, which reports every bad line at once."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from registry.services.errors import ValidationFailed

MAX_ROWS = 5_000
MAX_BYTES = 5 * 1024 * 1024
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# More reported lines would not be read; the count in the message still tells how many there are.
MAX_REPORTED = 200


@dataclass(frozen=True)
class LineError:
    line: int  # 0: the file as a whole; 1: its header
    column: str
    message: str


class ImportRefused(ValidationFailed):
    """An import with errors: every bad line named, nothing stored."""

    def __init__(self, errors: list[LineError]):
        errors = sorted(errors, key=lambda e: e.line)
        fields: dict[str, str] = {}
        for err in errors[:MAX_REPORTED]:
            key = f"line {err.line}" if err.line else "file"
            if err.column:
                key = f"{key}: {err.column}"
            fields[key] = f"{fields[key]}; {err.message}" if key in fields else err.message
        super().__init__(f"the import has {len(errors)} error(s); nothing was stored", fields)
        self.errors = errors


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the file's line (or sheet row) of each row
    errors: list[LineError] = field(default_factory=list)  # lines whose shape is wrong


def _refuse(message: str, line: int = 0) -> ImportRefused:
    return ImportRefused([LineError(line, "", message)])


def is_xlsx(content: bytes) -> bool:
    """An XLSX file is a ZIP archive; a CSV file never starts like one."""
    return content[:4] == b"PK\x03\x04"


def read_table(content: bytes) -> Table:
    """The header and rows of a CSV (UTF-8, with or without BOM, comma or semicolon) or XLSX
    (first sheet) file; blank lines are skipped, cells are stripped text."""
    if len(content) > MAX_BYTES:
        raise _refuse(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    cells = _xlsx_cells(content) if is_xlsx(content) else _csv_cells(content)
    table: Table | None = None
    for line, values in cells:
        values = [_text(v) for v in values]
        if not any(values):
            continue
        if table is None:
            table = Table(columns=[v.lower() for v in values])
            continue
        if len(table.rows) >= MAX_ROWS:
            raise _refuse(f"the file has more than {MAX_ROWS} rows; split it into smaller files")
        table.rows.append(dict(zip(table.columns, values + [""] * (len(table.columns) - len(values)))))
        table.lines.append(line)
        if any(values[len(table.columns):]):
            table.errors.append(LineError(line, "", "more cells than the header has columns"))
    if table is None:
        raise _refuse("the file is empty: expected a header row and one row per line")
    return table


def _csv_cells(content: bytes):  # noqa: ANN202 - an iterator of (line, cells)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse("the file is neither UTF-8 text nor an XLSX workbook") from None
    first = text.split("\n", 1)[0]
    # Dutch Excel saves "CSV" with semicolons, as the comma is its decimal separator.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise _refuse(f"unreadable CSV: {exc}", reader.line_num) from None


def _xlsx_cells(content: bytes):  # noqa: ANN202 - an iterator of (row number, cells)
    from openpyxl import load_workbook  # imported here: only uploads of workbooks need it

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise _refuse("the file is not a readable XLSX workbook") from None
    try:
        if not book.worksheets:
            raise _refuse("the workbook has no sheet")
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        book.close()


def _text(value: Any) -> str:
    """A cell as the text a CSV file would hold (dates as YYYY-MM-DD, whole numbers without .0)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def to_csv(columns: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()
