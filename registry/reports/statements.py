"""Statements: what a hospital owes for a period (monthly, quarterly or yearly), or the
consortium's overview, as plain data, then as PDF (WeasyPrint, the usage chart as inline SVG), CSV
or XLSX (openpyxl). Amounts come from the cost allocation (registry.services.allocation), so a
statement and GET /api/v1/allocations never disagree; they are excluding VAT, with VAT and the
total including VAT beside them.

The PDF is rendered from plain data (never ORM objects) with a URL fetcher that refuses every URL:
a statement needs nothing from outside, so nothing can be fetched (no file://, no network).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.contracts import FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.domain.pricing import euros, vat_cents
from registry.permissions import Permission
from registry.scope import restrict, scope_of
from registry.services.allocation import allocate_contract, monthly_usage, parse
from registry.services.errors import NotFound, ValidationFailed


@dataclass
class StatementLine:
    hospital: str  # name
    ura: str
    contract: str  # reference
    tool: str
    amount_cents: int
    vat_bp: int
    explanation: list[str] = field(default_factory=list)

    @property
    def vat_cents(self) -> int:
        return vat_cents(self.amount_cents, self.vat_bp)


@dataclass
class Statement:
    title: str
    period: str
    starts_on: date
    ends_on: date
    hospital: dict[str, str] | None  # None: the consortium's overview
    lines: list[StatementLine]
    usage: list[tuple[str, int]]  # (month, completed studies) for the chart
    illustrative: bool

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def vat_total_cents(self) -> int:
        return sum(line.vat_cents for line in self.lines)

    @property
    def total_incl_vat_cents(self) -> int:
        return self.total_cents + self.vat_total_cents


def build_statement(session: Session, *, actor: Actor, period: str, hospital_ura: str | None = None) -> Statement:
    """The statement of one hospital (by URA) or, without one, the consortium's overview."""
    actor.require(Permission.CONTRACTS_READ)
    per = parse(period)
    scope = scope_of(session, actor)
    hospital = None
    if hospital_ura is not None:
        hospital = session.scalar(restrict(select(Organisation).where(Organisation.ura == hospital_ura,
                                                                      Organisation.kind == "hospital"),
                                           scope, Organisation))
        if hospital is None:
            raise NotFound(f"no hospital with URA {hospital_ura}")
    elif scope.kind == "hospital":
        raise ValidationFailed("a hospital's user sees its own statement", {"hospital": "required"})
    contracts = list(session.scalars(restrict(
        select(FrameworkContract).where(FrameworkContract.starts_on <= per.ends_on,
                                        FrameworkContract.ends_on >= per.starts_on)
        .order_by(FrameworkContract.reference), scope, FrameworkContract)))
    lines, illustrative = [], False
    for contract in contracts:
        try:
            alloc = allocate_contract(session, actor=actor, contract_id=contract.id, period=period)
        except ValidationFailed:
            continue  # no call-offs in this period
        tool = ", ".join(sorted(alloc.allocation.volume))
        for line in alloc.allocation.lines:
            org = alloc.hospitals[line.hospital]
            if hospital is not None and org.id != hospital.id:
                continue
            lines.append(StatementLine(org.name, org.ura or "", contract.reference, tool, line.amount_cents,
                                       contract.vat_bp, list(line.explanation)))
            illustrative = illustrative or contract.illustrative
    lic_query = select(Licence.id).where(Licence.starts_on <= per.ends_on, Licence.ends_on >= per.starts_on)
    if hospital is not None:
        lic_query = lic_query.where(Licence.hospital_id == hospital.id)
    usage: dict[str, int] = {f"{y}-{m:02d}": 0 for y, m in per.months}
    for months in monthly_usage(session, list(session.scalars(restrict(lic_query, scope, Licence))), per).values():
        for (y, m), u in months.items():
            usage[f"{y}-{m:02d}"] += u.total
    title = (f"Statement {hospital.name} {per.label}" if hospital is not None
             else f"Consortium overview {per.label}")
    return Statement(title, per.label, per.starts_on, per.ends_on,
                     {"name": hospital.name, "ura": hospital.ura} if hospital is not None else None,
                     lines, sorted(usage.items()), illustrative)


# -- formats ----------------------------------------------------------------------------------------

HEADER = ["hospital", "ura", "contract", "tool", "amount_excl_vat_eur", "vat_eur", "amount_incl_vat_eur"]


def _eur(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def rows(statement: Statement) -> list[list[Any]]:
    return [[line.hospital, line.ura, line.contract, line.tool, line.amount_cents, line.vat_cents,
             line.amount_cents + line.vat_cents] for line in statement.lines]


def to_csv(statement: Statement) -> str:
    """One row per hospital and contract, then the total; amounts in euros with two decimals."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows(statement):
        writer.writerow([*row[:4], *(_eur(c) for c in row[4:])])
    writer.writerow(["total", "", "", "", _eur(statement.total_cents), _eur(statement.vat_total_cents),
                     _eur(statement.total_incl_vat_cents)])
    return out.getvalue()


def to_xlsx(statement: Statement) -> bytes:
    """The same rows in a workbook; amounts as exact numbers of euros (cents / 100 formatted 0.00),
    the total row a formula-free sum so that the file holds values, not computations."""
    from decimal import Decimal

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "statement"
    ws.append([statement.title])
    ws.append(HEADER)
    for row in rows(statement):
        ws.append([*row[:4], *(Decimal(c) / 100 for c in row[4:])])
    ws.append(["total", "", "", "", Decimal(statement.total_cents) / 100, Decimal(statement.vat_total_cents) / 100,
               Decimal(statement.total_incl_vat_cents) / 100])
    for cells in ws.iter_rows(min_row=3, min_col=5, max_col=7):
        for cell in cells:
            cell.number_format = "0.00"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _refuse_urls(url: str, *args: Any, **kw: Any) -> dict:
    # A statement is self-contained (inline SVG, inline CSS): nothing may be fetched, not even file://.
    raise ValueError(f"statements fetch nothing: {url[:80]}")


def to_pdf(statement: Statement, *, lang: str = "en") -> bytes:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from weasyprint import CSS, HTML

    from registry.reports.svg import bar_chart

    env = Environment(loader=FileSystemLoader(_templates()), autoescape=select_autoescape(["html"]))
    html = env.get_template("reports/statement.html").render(
        s=statement, euros=euros, chart=bar_chart(statement.usage, title="Completed studies per month"), lang=lang)
    css = CSS(filename=f"{_templates()}/reports/statement.css", url_fetcher=_refuse_urls)
    return HTML(string=html, url_fetcher=_refuse_urls).write_pdf(stylesheets=[css])


def _templates() -> str:
    from registry.app import ROOT  # the app's own templates folder

    return str(ROOT / "templates")


def render(statement: Statement, fmt: str) -> tuple[bytes, str]:
    """The statement in ``fmt`` (pdf, csv or xlsx) and its media type."""
    if fmt == "pdf":
        return to_pdf(statement), "application/pdf"
    if fmt == "csv":
        return to_csv(statement).encode("utf-8"), "text/csv; charset=utf-8"
    if fmt == "xlsx":
        return to_xlsx(statement), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    raise ValidationFailed("unknown format", {"format": "pdf, csv or xlsx"})
