"""Bulk import of call-off licences from CSV or XLSX: every line checked by the licence rules,
every bad line reported, nothing of a failed file stored."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from registry.db.changes import ChangeRecord
from registry.db.contracts import Licence
from registry.imports import ImportRefused, read_table
from registry.services import bulk_import
from tests.factories import SYSTEM, make_world

HEADER = "reference,contract,hospital,tool,starts_on,ends_on,quota_limit,quota_period,on_quota_exhausted"


def _csv(w, lines: list[str], sep: str = ",") -> bytes:  # noqa: ANN001
    text = "\n".join([HEADER, *lines]).replace("{fw}", w.contract.reference).replace(
        "{ura}", w.hospital.ura).replace("{tool}", w.tool.slug)
    return text.replace(",", sep).encode()


GOOD = ["BULK-1,{fw},{ura},{tool},2026-01-01,2026-06-30,50,term,deny",
        "BULK-2,{fw},{ura},{tool},2026-07-01,2026-12-31,,year,overage",
        "BULK-3,{fw},{ura},{tool},2026-02-01,2026-03-31,10,,"]


def _import(session, clock, content: bytes) -> list[Licence]:  # noqa: ANN001
    table = read_table(content)
    return bulk_import.import_licences(session, actor=SYSTEM, clock=clock, rows=table.rows,
                                       columns=table.columns, lines=table.lines, errors=table.errors)


def _count(session, prefix: str = "BULK-") -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(Licence).where(Licence.reference.like(f"{prefix}%")))


def test_a_good_csv_creates_every_licence_with_its_change_record(session, clock):
    w = make_world(session, clock)
    created = _import(session, clock, b"\xef\xbb\xbf" + _csv(w, GOOD))  # Excel's BOM
    assert [lic.reference for lic in created] == ["BULK-1", "BULK-2", "BULK-3"]
    second = session.scalar(select(Licence).where(Licence.reference == "BULK-2"))
    assert (second.quota_limit, second.quota_period, second.on_quota_exhausted) == (None, "year", "overage")
    assert second.ends_on == date(2026, 12, 31) and second.hospital_id == w.hospital.id
    third = session.scalar(select(Licence).where(Licence.reference == "BULK-3"))
    assert (third.quota_period, third.on_quota_exhausted) == ("term", "deny")  # empty cells: the defaults
    records = session.scalars(select(ChangeRecord.object_id).where(
        ChangeRecord.object_type == "licences", ChangeRecord.action == "create"))
    assert {str(lic.id) for lic in created} <= set(records)


def test_a_file_with_bad_lines_stores_nothing_and_names_exactly_those_lines(session, clock):
    w = make_world(session, clock)
    lines = [GOOD[0],
             "BULK-5,{fw},12345678,{tool},2026-01-01,2026-06-30,5,term,deny",    # line 3: unknown hospital
             "BULK-6,{fw},{ura},{tool},2026-01-01,2027-06-30,5,term,deny",       # line 4: outside the framework
             "BULK-7,{fw},{ura},{tool},2026-13-01,2026-06-30,5,term,deny",       # line 5: bad date
             GOOD[1],
             "BULK-1,{fw},{ura},{tool},2026-01-01,2026-06-30,5,term,deny"]       # line 7: duplicate reference
    with pytest.raises(ImportRefused) as refused:
        _import(session, clock, _csv(w, lines))
    got = [(e.line, e.column) for e in refused.value.errors]
    assert got == [(3, "hospital"), (4, "ends_on"), (5, "starts_on"), (7, "reference")]
    assert "framework contract's term" in refused.value.errors[1].message
    assert "line 2" in refused.value.errors[3].message
    assert refused.value.fields["line 3: hospital"].startswith("no active hospital")
    assert _count(session) == 0  # not even the good lines 2 and 6


def test_a_semicolon_csv_from_dutch_excel_and_an_xlsx_workbook_are_read_alike(session, clock):
    w = make_world(session, clock)
    assert len(_import(session, clock, _csv(w, GOOD[:1], sep=";"))) == 1
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append(["BULK-X1", w.contract.reference, int(w.hospital.ura), w.tool.slug, date(2026, 1, 1),
                  date(2026, 3, 31), 40, "month", "deny"])
    sheet.append([None] * 9)  # blank rows are skipped
    sheet.append(["BULK-X2", w.contract.reference, w.hospital.ura, w.tool.slug, "2026-04-01", "2026-04-30",
                  None, None, None])
    out = io.BytesIO()
    book.save(out)
    created = _import(session, clock, out.getvalue())
    assert [(lic.reference, lic.quota_limit, lic.ends_on) for lic in created] == [
        ("BULK-X1", 40, date(2026, 3, 31)), ("BULK-X2", None, date(2026, 4, 30))]


def test_missing_and_unknown_columns_refuse_the_whole_file(session, clock):
    w = make_world(session, clock)
    content = _csv(w, GOOD).replace(b",on_quota_exhausted", b",colour", 1)
    with pytest.raises(ImportRefused) as refused:
        _import(session, clock, content)
    assert {(e.line, e.column) for e in refused.value.errors} == {(1, "on_quota_exhausted"), (1, "colour")}
    assert _count(session) == 0


def test_a_too_long_file_and_a_file_that_is_not_text_are_refused(session, clock):
    with pytest.raises(ImportRefused, match="error"):
        read_table(b"\xff\xfe\x00garbage")
    with pytest.raises(ImportRefused) as refused:
        read_table((HEADER + "\n" + "x,,,,,,,,\n" * 5_001).encode())
    assert "more than 5000 rows" in refused.value.errors[0].message
    with pytest.raises(ImportRefused):
        read_table(b"PK\x03\x04 not really a workbook")


def _api_headers(session, clock) -> dict:  # noqa: ANN001
    from tests.procurement.test_api import _token

    return _token(session, clock, "inkoop@demo.aifi.nl")


def test_the_api_imports_a_csv_or_answers_400_with_every_bad_line(client, session, clock):
    headers = _api_headers(session, clock)
    good = (HEADER + "\nAPI-BULK-1,AIFI-FW-BONEXPERT,90000011,bonexpert,2026-01-01,2026-03-31,,term,deny\n")
    answer = client.post("/api/v1/licences/import", data=good, content_type="text/csv", headers=headers)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["total"] == 1 and body["created"][0]["reference"] == "API-BULK-1"
    bad = good.replace("API-BULK-1", "API-BULK-2") + "API-BULK-3,NO-SUCH-FW,90000011,bonexpert,2026-01-01,x,,,\n"
    refused = client.post("/api/v1/licences/import", data=bad, content_type="text/csv", headers=headers)
    assert refused.status_code == 400
    fields = refused.get_json()["error"]["fields"]
    assert set(fields) == {"line 3: contract", "line 3: ends_on"}
    assert _count(session, "API-BULK-2") == 0
    wrong = client.post("/api/v1/licences/import", data=good, content_type="application/json", headers=headers)
    assert wrong.status_code == 400


def test_the_import_page_in_dutch_shows_the_errors_per_line_and_then_the_created_licences(client, session):
    from tests.web.helpers import csrf_token, login

    login(client, "inkoop@demo.aifi.nl")
    page = client.get("/licences/import?lang=nl").get_data(as_text=True)
    assert "Licenties importeren" in page
    template = client.get("/licences/import/template.csv")
    assert template.status_code == 200 and template.get_data(as_text=True).startswith(HEADER)
    good = "WEB-BULK-1;AIFI-FW-BONEXPERT;90000011;bonexpert;2026-01-01;2026-03-31;;term;deny"
    bad = "WEB-BULK-2;AIFI-FW-BONEXPERT;99999999;bonexpert;2026-01-01;2026-03-31;;term;deny"
    content = "\n".join([HEADER.replace(",", ";"), good, bad]).encode()
    refused = client.post("/licences/import?lang=nl", data={"csrf_token": csrf_token(page),
                                                            "file": (io.BytesIO(content), "licenties.csv")},
                          content_type="multipart/form-data")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "Fouten per regel" in html and "er is niets opgeslagen" in html and "<td>3</td><td>hospital</td>" in html
    assert _count(session, "WEB-BULK") == 0
    done = client.post("/licences/import?lang=nl", data={"csrf_token": csrf_token(page),
                                                         "file": (io.BytesIO(content[:content.rindex(b"\n")]),
                                                                  "licenties.csv")},
                       content_type="multipart/form-data")
    assert done.status_code == 200 and "1 licentie(s) aangemaakt" in done.get_data(as_text=True)
    assert _count(session, "WEB-BULK") == 1
