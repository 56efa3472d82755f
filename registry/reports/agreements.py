"""The data-processing agreement as a PDF: Dutch (the language these agreements are signed in) or
English on request, from plain data (:func:`registry.services.agreements.document_data`), with the
SHA-256 of the terms printed in it so that a signed copy can be matched to the terms it covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import render_template
from flask_babel import force_locale

from registry.reports.pdf import html_to_pdf

LANGUAGES = ("nl", "en")


def hash_groups(digest: str) -> str:
    """The hash in groups of eight, so it wraps only between groups and can be read out."""
    return " ".join(digest[i:i + 8] for i in range(0, len(digest), 8))


def agreement_html(data: dict[str, Any], lang: str = "nl") -> str:
    with force_locale(lang if lang in LANGUAGES else "nl"):
        return render_template("reports/agreement.html", d=data, lang=lang, hash_groups=hash_groups)


def agreement_pdf(data: dict[str, Any], lang: str = "nl") -> bytes:
    css = (Path(__file__).parent / "agreement.css").read_text(encoding="utf-8")
    return html_to_pdf(agreement_html(data, lang), css)
