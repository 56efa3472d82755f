"""Statements: the PDF's text holds the right totals, the XLSX sums to the same total, the CSV
agrees, and the command line writes them."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import load_workbook
from pypdf import PdfReader

from registry.actor import Actor
from registry.domain.pricing import euros
from registry.reports.statements import build_statement, render
from registry.services.allocation import allocate_contract
from tests.web.helpers import login

STAFF = Actor.system("tests")


def test_a_hospitals_pdf_statement_shows_the_right_totals(session):
    st = build_statement(session, actor=STAFF, period="2025-Q3", hospital_ura="90000011")
    assert len(st.lines) == 3 and st.total_cents > 0
    # The statement's lines are the hospital's lines of the allocations: the same amounts.
    from registry.db.contracts import FrameworkContract
    from sqlalchemy import select

    for line in st.lines:
        fw = session.scalar(select(FrameworkContract).where(FrameworkContract.reference == line.contract))
        view = allocate_contract(session, actor=STAFF, contract_id=fw.id, period="2025-Q3").view()
        assert line.amount_cents == next(x["amount_cents"] for x in view["lines"] if x["hospital"]["ura"] == "90000011")
    pdf, media = render(st, "pdf")
    assert media == "application/pdf" and pdf.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    assert "Statement Catharina Ziekenhuis 2025-Q3" in text
    assert f"Total excl. VAT {euros(st.total_cents)}" in text
    assert f"Total incl. VAT {euros(st.total_incl_vat_cents)}" in text
    assert st.total_incl_vat_cents == st.total_cents + st.vat_total_cents


def test_the_xlsx_and_csv_sum_to_the_same_total(session):
    st = build_statement(session, actor=STAFF, period="2025")
    assert len({line.hospital for line in st.lines}) >= 5
    xlsx, _ = render(st, "xlsx")
    ws = load_workbook(io.BytesIO(xlsx)).active
    values = [r for r in ws.iter_rows(min_row=3, values_only=True)]
    body, total = values[:-1], values[-1]
    assert total[0] == "total"
    assert sum(Decimal(str(r[4])) for r in body) == Decimal(st.total_cents) / 100 == Decimal(str(total[4]))
    assert sum(Decimal(str(r[6])) for r in body) == Decimal(st.total_incl_vat_cents) / 100
    rows = list(csv.reader(io.StringIO(render(st, "csv")[0].decode())))
    assert sum(Decimal(r[4]) for r in rows[1:-1]) == Decimal(rows[-1][4]) == Decimal(st.total_cents) / 100


def test_the_cli_writes_a_statement_in_the_format_of_its_extension(engine, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from registry.cli import main

    monkeypatch.setenv("REGISTRY_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    out = tmp_path / "statement.pdf"
    result = runner.invoke(main, ["report", "statement", "--hospital", "90000033", "--period", "2025-Q3",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    xlsx = tmp_path / "overview.xlsx"
    result = runner.invoke(main, ["report", "statement", "--consortium", "--period", "2025", "--out", str(xlsx)])
    assert result.exit_code == 0, result.output
    assert load_workbook(xlsx).active.cell(1, 1).value == "Consortium overview 2025"
    bad = runner.invoke(main, ["report", "statement", "--period", "2025", "--out", str(xlsx)])
    assert bad.exit_code != 0


def test_statements_from_the_ui_and_a_hospital_sees_only_its_own(client, session):
    login(client, "inkoop@demo.aifi.nl")
    page = client.get("/statements?hospital=90000011&period=2025-Q3&lang=nl").get_data(as_text=True)
    assert "Catharina Ziekenhuis" in page and "<svg" in page
    pdf = client.get("/statements?hospital=90000011&period=2025-Q3&format=pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    client.get("/logout")
    login(client, "privacy@oost.demo.aifi.nl")
    own = client.get("/statements?hospital=90000011&period=2025&format=csv").get_data(as_text=True)
    assert "Catharina" not in own and "Demo Ziekenhuis Oost" in own
