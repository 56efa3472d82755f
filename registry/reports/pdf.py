"""HTML to PDF with WeasyPrint, with a URL fetcher that fetches nothing.

A generated agreement is evidence: what it shows must come from the registry's own data and
template, never from a URL that someone could change afterwards (or use to make the registry call
out: SSRF). Templates are self-contained (inline CSS, system fonts), so every fetch is refused and
named, and a refused fetch stops the rendering instead of leaving a hole in the document.
"""

from __future__ import annotations

from weasyprint import CSS, HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher


class FetchRefused(FatalURLFetchingError):
    """A document asked for something outside itself."""


class NoFetching(URLFetcher):
    def fetch(self, url, headers=None):  # noqa: ANN001, ANN201
        raise FetchRefused(f"documents load nothing from outside the registry: {url[:200]}")


def html_to_pdf(html: str, css: str = "") -> bytes:
    """The PDF of a self-contained HTML document and its stylesheet (no base URL: relative
    references go nowhere)."""
    fetcher = NoFetching()
    sheets = [CSS(string=css, url_fetcher=fetcher)] if css else []
    return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(stylesheets=sheets)
