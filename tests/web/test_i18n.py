"""Every page in Dutch and in English, and no string left untranslated.

Every GET page of the web UI is rendered (from the URL map, with a real object for each ``<key>``)
for an admin in both languages. The test fails on any message the code or a template asked for
that has no Dutch translation, and on any English source text that shows up verbatim in a Dutch
page (a string that bypassed the catalogue)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from registry.web.i18n import catalogue_files
from tests.web.helpers import login
from tests.web.routes import web_pages


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        if tag in ("script", "style", "code", "pre"):
            self._skip += 1

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag in ("script", "style", "code", "pre"):
            self._skip -= 1

    def handle_data(self, data):  # noqa: ANN001
        if not self._skip and data.strip():
            self.texts.add(" ".join(data.split()))


def _english_source_texts() -> dict[str, str]:
    out = {}
    for po in catalogue_files("nl"):
        with po.open("rb") as fh:
            for message in read_po(fh, locale="nl"):
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                text = message.string if isinstance(message.string, str) else message.string[0]
                if msgid and "%(" not in msgid and len(msgid) > 3 and text and text != msgid:
                    out[msgid] = text
    return out


def _key(value):  # noqa: ANN001, ANN202
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_the_compiled_catalogues_match_their_sources():
    for po in catalogue_files("nl"):
        with po.open("rb") as fh:
            source = {_key(m.id): _key(m.string) for m in read_po(fh, locale="nl") if m.id}
        with po.with_suffix(".mo").open("rb") as fh:
            compiled = {_key(m.id): _key(m.string) for m in read_mo(fh) if m.id}
        assert compiled == source, f"{po.name}: run `make i18n`"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_page_renders_in_both_languages_without_untranslated_strings(app, client, session, lang):
    app.config["I18N_MISSING"] = missing = set()
    login(client, "admin@demo.aifi.nl")
    client.get(f"/?lang={lang}")
    english = _english_source_texts()
    pages = web_pages(app, session)
    assert len(pages) >= 20, pages  # a walk of nothing proves nothing
    leaked: dict[str, list[str]] = {}
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        assert f'<html lang="{lang}">' in html, path
        if lang == "nl":
            parser = _Text()
            parser.feed(html)
            hits = sorted(t for t in parser.texts if t in english)
            if hits:
                leaked[path] = hits
    assert not missing, f"messages without a Dutch translation: {sorted(missing)}"
    assert not leaked, f"English text in Dutch pages: {leaked}"


def test_the_recorder_notices_a_missing_translation(app, client):
    """The check above can fail: a message absent from the catalogue is noted."""
    from registry.web.i18n import gettext

    app.config["I18N_MISSING"] = missing = set()
    with app.test_request_context("/?lang=nl"):
        gettext("A sentence nobody translated")
    assert missing == {"A sentence nobody translated"}


def test_enumerations_show_as_words(client, session):
    login(client, "admin@demo.aifi.nl")
    html = client.get("/organisations?lang=nl").get_data(as_text=True)
    assert "ziekenhuis" in html and "uitgestapt" in html
    assert re.search(r">\s*offboarded\s*<", html) is None


def test_lists_show_names_beside_identifiers(client):
    login(client, "admin@demo.aifi.nl")
    html = client.get("/licences?lang=en").get_data(as_text=True)
    assert "Radboudumc" in html and "BoneXpert" in html and "(90000033)" in html
