"""What the admin forms share: a service's field errors put onto the form's fields, in the user's
language, so that the GOV.UK error summary and the message beside each field both show them.

The services validate (one rule for the UI and the API) and speak English to the API; the page
translates the messages it knows and shows any other as the service wrote it."""

from __future__ import annotations

from typing import Any, Callable

from flask_wtf import FlaskForm

from registry.edge import db

from registry.services.errors import ValidationFailed
from registry.services.users import LAST_ADMIN
from registry.web.i18n import _l

# A service's message (or its beginning) → the sentence a person reads.
MESSAGES = [
    ("is required", _l("Fill in this field.")),
    ("URA must be exactly 8 digits", _l("Enter exactly 8 digits.")),
    ("AGB must be exactly 8 digits", _l("Enter exactly 8 digits.")),
    ("KVK must be exactly 8 digits", _l("Enter exactly 8 digits.")),
    ("is already registered for another organisation", _l("Another organisation is already registered with this.")),
    ("must be a two-letter country code", _l("Enter a two-letter country code, such as NL.")),
    ("must be one of", _l("Choose one from the list.")),
    ("is not an e-mail address", _l("Enter an e-mail address, such as name@hospital.nl.")),
    ("already has an account", _l("This e-mail address already has an account.")),
    ("unknown or missing role", _l("Choose at least one role.")),
    ("you can only manage people of your own organisation", _l("You can only manage people of your own organisation.")),
    ("no such organisation", _l("Choose an organisation from the list.")),
    ("nl or en", _l("Choose a language from the list.")),
    (LAST_ADMIN, _l("This is the last active administrator: make someone else an administrator first.")),
    ("must be a hospital", _l("Choose a hospital from the list.")),
    ("hospital is ", _l("The hospital is not active: it cannot register gateways.")),
    ("the hospital already has a gateway of this name", _l("The hospital already has a gateway of this name.")),
    ("contains a private key", _l("This is a private key: register the public key only.")),
    ("use an Ed25519", _l("Use an Ed25519 (OKP) or P-256 (EC) public key.")),
    ("not JSON", _l("Paste the public key as JSON (a JWK).")),
    ("at most", _l("This is too long.")),
]


def translated(message: str) -> str:
    for start, sentence in MESSAGES:
        if message.startswith(start):
            return str(sentence)
    return message


def apply_errors(form: FlaskForm, exc: ValidationFailed, aliases: dict[str, str] | None = None,
                 fallback: str | None = None) -> None:
    """Each of the service's field errors beside its field (``aliases``: service key → form
    field); an error without a field of its own goes to ``fallback`` (the first field if None)."""
    names = [name for name in form._fields if name != "csrf_token"]  # noqa: SLF001
    fields = exc.fields or {fallback or names[0]: exc.detail}
    for key, message in fields.items():
        name = (aliases or {}).get(key, key)
        if name not in form._fields:  # noqa: SLF001
            name = fallback or names[0]
        field = form[name]
        field.errors = [*field.errors, translated(message)]



def submit(form: FlaskForm, call: Callable[[], Any], aliases: dict[str, str] | None = None,
           fallback: str | None = None) -> tuple[bool, Any]:
    """Run one service call for a valid form: commit and ``(True, result)``, or, when the service
    refuses the input, roll back, put its errors on the form and ``(False, None)``."""
    session = db()
    try:
        result = call()
    except ValidationFailed as exc:
        session.rollback()
        apply_errors(form, exc, aliases, fallback)
        return False, None
    session.commit()
    return True, result
