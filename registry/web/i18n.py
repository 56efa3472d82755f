"""The UI's two languages. Dutch is the default; English for everyone else who asks for it."""

from __future__ import annotations

from flask import request, session

LOCALES = ("nl", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"nl": "AIFI-register", "en": "AIFI registry"},
    "app.tagline": {"nl": "Governance-, toestemmings- en inkoopregister voor AI in de radiologie",
                    "en": "Governance, consent and procurement registry for AI in radiology"},
    "nav.home": {"nl": "Overzicht", "en": "Overview"},
    "nav.login": {"nl": "Inloggen", "en": "Log in"},
    "nav.logout": {"nl": "Uitloggen", "en": "Log out"},
    "hospitals": {"nl": "Ziekenhuizen", "en": "Hospitals"},
    "tools": {"nl": "AI-toepassingen", "en": "AI tools"},
    "name": {"nl": "Naam", "en": "Name"},
    "status": {"nl": "Status", "en": "Status"},
    "vendor": {"nl": "Leverancier", "en": "Vendor"},
    "versions": {"nl": "Versies", "en": "Versions"},
    "status.active": {"nl": "actief", "en": "active"},
    "status.suspended": {"nl": "opgeschort", "en": "suspended"},
    "status.offboarded": {"nl": "uitgestapt", "en": "offboarded"},
    "status.revoked": {"nl": "ingetrokken", "en": "revoked"},
    "illustrative": {"nl": "fictief (demo)", "en": "fictional (demo)"},
    "login.email": {"nl": "E-mailadres", "en": "E-mail address"},
    "login.password": {"nl": "Wachtwoord", "en": "Password"},
    "login.failed": {"nl": "Onbekend e-mailadres of onjuist wachtwoord.",
                     "en": "Unknown e-mail address or wrong password."},
    "login.welcome": {"nl": "Ingelogd als", "en": "Logged in as"},
}


def current_locale() -> str:
    asked = request.args.get("lang")
    if asked in LOCALES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LOCALES:
        return session["lang"]
    return request.accept_languages.best_match(LOCALES) or "nl"


def translate(key: str) -> str:
    """The message in the current language; a missing key shows itself, so it gets noticed."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(current_locale()) or entry["en"]
