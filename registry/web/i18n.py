"""The UI's two languages, through Flask-Babel and message catalogues.

Source strings are English (``_("Hospitals")``); the Dutch catalogue lives in
``registry/translations/nl/LC_MESSAGES/<area>.po``, one file per area of the workspace so that
areas grow without touching each other's catalogue. Every ``.po`` file found there is a Babel
domain of its own; the Makefile (and the test suite) compile them to ``.mo``.

Dutch is the default; a ``?lang=`` link switches and is remembered in the session.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, Domain, format_date, format_datetime, get_locale, gettext
from flask_babel import lazy_gettext as _l  # noqa: F401 - re-exported for the object descriptions

LOCALES = ("nl", "en")
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"


def catalogue_files(locale: str = "nl") -> list[Path]:
    return sorted((TRANSLATIONS / locale / "LC_MESSAGES").glob("*.po"))


def compile_catalogues(force: bool = False) -> list[Path]:
    """Compile every ``.po`` to its ``.mo`` when the ``.mo`` is missing or older. Returns what it wrote."""
    written = []
    for locale in LOCALES:
        for po in catalogue_files(locale):
            mo = po.with_suffix(".mo")
            if force or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
                with po.open("rb") as src:
                    catalog = read_po(src, locale=locale)
                with mo.open("wb") as out:
                    write_mo(out, catalog)
                written.append(mo)
    return written


def select_locale() -> str:
    asked = request.args.get("lang")
    if asked in LOCALES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LOCALES:
        return session["lang"]
    actor = g.get("web_actor")
    if actor is not None and getattr(actor, "locale", None) in LOCALES:
        return actor.locale
    return request.accept_languages.best_match(LOCALES) or "nl"


class RecordingDomain(Domain):
    """A Babel domain that, when the app is asked to (``I18N_MISSING`` is a set), notes every
    message that has no Dutch translation: the test that renders every page uses it."""

    def _note(self, string: str, plural: bool = False) -> None:
        missing = current_app.config.get("I18N_MISSING") if has_request_context() else None
        if missing is not None and str(get_locale()) != "en":
            key = (string, 0) if plural else string  # gettext keeps plural forms by (msgid, n)
            if self.get_translations()._catalog.get(key) in (None, ""):  # noqa: SLF001
                missing.add(string)

    def gettext(self, string: str, **variables: Any) -> str:
        self._note(string)
        return super().gettext(string, **variables)

    def ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> str:
        self._note(singular, plural=True)
        return super().ngettext(singular, plural, num, **variables)

    # Jinja's newstyle gettext formats the result itself, with every variable the template
    # passes; these hand it the bare translation.
    def template_gettext(self, string: str) -> str:
        self._note(string)
        return self.get_translations().ugettext(string)

    def template_ngettext(self, singular: str, plural: str, num: int) -> str:
        self._note(singular, plural=True)
        return self.get_translations().ungettext(singular, plural, num)


def init_i18n(app: Flask) -> None:
    domains = [po.stem for po in catalogue_files("nl")] or ["messages"]
    directory = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = "nl"
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Amsterdam"
    babel = Babel(app, locale_selector=select_locale, default_domain=";".join(domains),
                  default_translation_directories=";".join([directory] * len(domains)))
    # Every gettext (code, lazy strings, templates) goes through this one domain.
    domain = babel.domain_instance = RecordingDomain(domain=";".join(domains))
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        domain.template_gettext, domain.template_ngettext, newstyle=True)
    app.jinja_env.globals.update(locale_code=lambda: str(get_locale()))
    app.jinja_env.filters.update(day=format_day, moment=format_moment, money=format_money)


_ = gettext


def format_day(value: date | None) -> str:
    """A calendar date in the user's language (terms are Amsterdam dates already)."""
    if value is None:
        return "—"
    return format_date(value, format="medium")


def format_moment(value: datetime | None) -> str:
    """An instant in Amsterdam time, in the user's language."""
    if value is None:
        return "—"
    return format_datetime(value, format="medium")


def format_money(cents: int | None, currency: str = "EUR") -> str:
    """Integer cents as money in the user's locale (exact: Decimal, never float)."""
    from babel.numbers import format_currency

    if cents is None:
        return "—"
    return format_currency(Decimal(cents) / 100, currency, locale=str(get_locale()))


def lang_switch_url(locale: str) -> str:
    """The current page with its filters, in another language (escaped by the template)."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [locale]
    return request.path + "?" + urlencode(args, doseq=True)
