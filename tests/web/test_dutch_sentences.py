"""The registry's own English sentences read in Dutch on a Dutch page: a licence import's line
errors, the messages of change records in an object's history, the checks of an audit entry and
the reason the audit chain is broken. The stored data and the API keep the English."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from registry.db.audit import AuditEntry
from registry.db.changes import ChangeRecord
from registry.services import contracts
from tests.factories import SYSTEM, bearer, child_hand, make_world
from tests.web.helpers import csrf_token, login

HEADER = "reference;contract;hospital;tool;starts_on;ends_on;quota_limit;quota_period;on_quota_exhausted"


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())


def _post_import(client, lang: str, lines: list[str]):  # noqa: ANN001, ANN202
    page = client.get(f"/licences/import?lang={lang}").get_data(as_text=True)
    content = "\n".join(lines).encode()
    return client.post(f"/licences/import?lang={lang}",
                       data={"csrf_token": csrf_token(page), "file": (io.BytesIO(content), "licenties.csv")},
                       content_type="multipart/form-data")


BAD_LINES = [HEADER,
             "NL-BULK-1;AIFI-FW-BONEXPERT;99999999;bonexpert;2026-01-01;2026-03-31;;term;deny",
             "NL-BULK-1;AIFI-FW-BONEXPERT;90000011;bonexpert;2026-01-01;2026-03-31;;term;deny",
             "NL-BULK-3;AIFI-FW-BONEXPERT;90000011;bonexpert;1-1-2026;2026-03-31;veel;week;deny"]


def test_the_line_errors_of_an_import_read_in_dutch(client):
    login(client, "inkoop@demo.aifi.nl")
    refused = _post_import(client, "nl", BAD_LINES)
    assert refused.status_code == 400
    text = _text(refused.get_data(as_text=True))
    for dutch in ("geen actief ziekenhuis met dit URA: '99999999'", "dezelfde referentie als regel 2",
                  "een datum als JJJJ-MM-DD is verplicht", "een geheel aantal onderzoeken, of leeg voor geen quotum",
                  "een van term, year, month"):
        assert dutch in text
    for english in ("no active hospital", "the same reference as line", "is required", "a whole number",
                    "one of term"):
        assert english not in text
    english = _text(_post_import(client, "en", BAD_LINES).get_data(as_text=True))
    assert "no active hospital with this URA: '99999999'" in english and "the same reference as line 2" in english


def test_the_header_errors_of_an_import_read_in_dutch(client):
    login(client, "inkoop@demo.aifi.nl")
    text = _text(_post_import(client, "nl", [HEADER.replace("tool;", "") + ";;extra", BAD_LINES[1]])
                 .get_data(as_text=True))
    assert "kolom ontbreekt" in text and "onbekende kolom; verwacht: reference" in text and "(leeg)" in text
    assert "missing column" not in text and "unknown column" not in text and "(empty)" not in text


def test_the_api_keeps_the_english_line_errors(client, session, clock):
    from tests.procurement.test_api import _token

    bad = "\n".join(BAD_LINES).replace(";", ",")
    refused = client.post("/api/v1/licences/import?lang=nl", data=bad, content_type="text/csv",
                          headers={**_token(session, clock, "inkoop@demo.aifi.nl"), "Accept-Language": "nl"})
    fields = refused.get_json()["error"]["fields"]
    assert fields["line 2: hospital"] == "no active hospital with this URA: '99999999'"
    assert fields["line 3: reference"] == "the same reference as line 2"


def test_the_messages_of_change_records_read_in_dutch_and_are_stored_in_english(client, session, clock):
    world = make_world(session, clock)
    contracts.amend_contract(session, actor=SYSTEM, clock=clock, contract_id=world.contract.id,
                             changes={"extension_options": [{"months": 12}]}, message="Afgesproken met de leverancier")
    contracts.exercise_extension(session, actor=SYSTEM, clock=clock, contract_id=world.contract.id)
    session.commit()
    stored = {session.scalar(select(ChangeRecord.message).where(
        ChangeRecord.action == "extend", ChangeRecord.object_type == kind, ChangeRecord.object_id == str(key)))
        for kind, key in (("framework_contracts", world.contract.id), ("licences", world.licence.id))}
    assert stored == {"extension option 1 exercised", f"follows the extension of {world.contract.reference}"}
    login(client, "admin@demo.aifi.nl")
    contract = _text(client.get(f"/contracts/{world.contract.id}?lang=nl").get_data(as_text=True))
    assert "verlengingsoptie 1 gebruikt" in contract and "extension option 1 exercised" not in contract
    assert "Afgesproken met de leverancier" in contract  # what a person typed is shown as typed
    licence = _text(client.get(f"/licences/{world.licence.id}?lang=nl").get_data(as_text=True))
    assert f"volgt de verlenging van {world.contract.reference}" in licence
    assert "follows the extension of" not in licence
    english = _text(client.get(f"/contracts/{world.contract.id}?lang=en").get_data(as_text=True))
    assert "extension option 1 exercised" in english


@pytest.fixture
def decided(client, session, clock):
    world = make_world(session, clock)
    session.commit()
    answer = client.post("/api/v1/decisions", headers=bearer(session, clock, world.gateway),
                         json=child_hand(world.tool.slug, "nl-1").model_dump(mode="json", exclude_none=True))
    assert answer.status_code == 200, answer.get_json()
    return world


def test_the_checks_of_an_audit_entry_read_in_dutch(client, session, decided):
    login(client, "auditor@demo.aifi.nl")
    text = _text(client.get(f"/audit?organisation={decided.hospital.id}&lang=nl").get_data(as_text=True))
    assert "autorisatie: toegestaan" in text and "toestemming: geen bezwaar" in text
    assert "authorisation:" not in text and "consent:" not in text and "no-objection" not in text
    english = _text(client.get(f"/audit?organisation={decided.hospital.id}&lang=en").get_data(as_text=True))
    assert "authorisation: permitted" in english and "consent: no objection" in english


def test_why_the_audit_chain_is_broken_reads_in_dutch(client, session, decided):
    login(client, "auditor@demo.aifi.nl")
    page = client.get("/audit?lang=nl").get_data(as_text=True)
    client.post("/audit/verify?lang=nl", data={"csrf_token": csrf_token(page)})
    session.execute(AuditEntry.__table__.update().where(AuditEntry.seq == 3).values(actor="user:0"))
    session.commit()
    text = _text(client.post("/audit/verify?lang=nl", data={"csrf_token": csrf_token(page)})
                 .get_data(as_text=True))
    assert "Het auditlog is beschadigd." in text
    assert "Eerste breuk bij regel 3: de inhoud klopt niet met de hash" in text and "content does not match its hash" not in text


def test_a_text_a_person_wrote_is_shown_as_written(app):
    from registry.web.sentences import sentence

    with app.test_request_context("/?lang=nl"):
        assert sentence("extension option 2 exercised") == "verlengingsoptie 2 gebruikt"
        assert sentence("malfunction reported") == "storing gemeld"
        assert sentence("the fire alarm reported") == "the fire alarm reported"  # not an incident kind
        assert sentence("Besproken in het inkoopoverleg") == "Besproken in het inkoopoverleg"
        assert sentence("") == ""
