"""The evidence pack as JSON (for machines and for ``registry audit verify --checkpoints``) and as
a PDF (Dutch by default, English on request), both from the same plain data
(:func:`registry.services.evidence.evidence_pack`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from flask import render_template
from flask_babel import force_locale

from registry.reports.agreements import LANGUAGES, hash_groups
from registry.reports.pdf import html_to_pdf


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def evidence_json(pack: dict[str, Any]) -> bytes:
    return json.dumps(pack, default=_plain, ensure_ascii=False, indent=2).encode()


def evidence_html(pack: dict[str, Any], lang: str = "nl") -> str:
    lang = lang if lang in LANGUAGES else "nl"
    with force_locale(lang):
        return render_template("reports/evidence.html", d=pack, lang=lang, hash_groups=hash_groups)


def evidence_pdf(pack: dict[str, Any], lang: str = "nl") -> bytes:
    # The agreement's print stylesheet: the same A4 page, fonts and tables.
    css = (Path(__file__).parent / "agreement.css").read_text(encoding="utf-8")
    return html_to_pdf(evidence_html(pack, lang), css)
