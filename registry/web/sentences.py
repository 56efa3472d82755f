"""The registry's own English sentences, read in the user's language when a page shows them.

The services speak English and keep it so: a change record's message is stored as the service
wrote it (the API returns it as it is), and an import's line errors and the audit chain's
verification reasons are the same English the API gives. A page passes such a text through
:func:`sentence`: a text that is one of the sentences below (with its parameters) is shown as
its translation; any other text (a note or reason a person typed) is shown as it was written.

Each sentence is the gettext message id itself, with ``%(name)s`` where the service puts a value.
A value may be a code that has its own words (an enumeration of registry.workspace.labels) or a
sentence of this list in turn (``SENTENCE``); the others are shown as they are.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from registry.web.i18n import _

SENTENCE = "sentence"  # a value that is itself one of the sentences


def N_(msgid: str) -> str:  # noqa: N802 - the name pybabel extracts by default
    return msgid


# (message id, {parameter: enumeration or SENTENCE}); the more particular first where two overlap.
SENTENCES: list[tuple[str, dict[str, str]]] = [
    # Change records (registry.services.*: the message beside a change).
    (N_("deployment prepared"), {}),
    (N_("checklist changed"), {}),
    (N_("checklist changed after approval: go-live needs a new approval"), {}),
    (N_("go-live approved"), {}),
    (N_("terms changed"), {}),
    (N_("terms changed while %(status)s: back to review"), {"status": "status"}),
    (N_("signature in version %(version)s: valid"), {}),
    (N_("signature in version %(version)s: invalid (%(problem)s)"), {"problem": "signature_problem"}),
    (N_("onboarded again under the same URA"), {}),
    (N_("hospital offboarded: %(reason)s"), {}),
    (N_("price schedule changed"), {}),
    (N_("extension option %(number)s exercised"), {}),
    (N_("follows the extension of %(reference)s"), {}),
    (N_("ended early"), {}),
    (N_("amended in the workspace"), {}),
    (N_("first sign-in through single sign-on"), {}),
    (N_("roles from the identity provider's claim"), {}),
    (N_("webhook subscription created"), {}),
    (N_("credential rotated"), {}),
    (N_("version %(version)s becomes the default"), {}),
    (N_("made the default version"), {}),
    (N_("%(kind)s reported"), {"kind": "incident_kind"}),
    (N_("%(duty)s: told %(whom)s"), {"duty": "duty"}),
    (N_("what-if preview"), {}),
    (N_("withdrawn by the patient"), {}),
    (N_("new signing key %(kid)s; previous keys published for %(seconds)s s"), {}),
    # The audit chain's verification (registry.audit.verify: why the chain is broken).
    (N_("checkpoint at seq %(seq)s: its columns differ from what its signature states"), {}),
    (N_("checkpoint at seq %(seq)s: %(problem)s"), {"problem": SENTENCE}),
    (N_("signature does not verify: %(detail)s"), {}),
    (N_("signed with an unknown key %(kid)s"), {}),
    (N_("not an audit checkpoint"), {}),
    (N_("entries 1..%(last)s are missing and no signed checkpoint anchors seq %(last)s"), {}),
    (N_("entries 1..%(last)s were removed before their retention period ended"), {}),
    (N_("prev_hash does not link to the entry before it"), {}),
    (N_("checkpoint %(seq)s signed a different head hash"), {}),
    (N_("entries from seq %(seq)s are missing: a signed checkpoint covers seq %(covered)s"), {}),
    (N_("entry seq %(seq)s is missing (next is %(next)s)"), {}),
    (N_("entry seq %(seq)s is missing"), {}),
    (N_("content does not match its hash"), {}),
    # A bulk import's line errors (registry.imports, registry.services.bulk_import and the rules
    # of a single licence in registry.services.contracts).
    (N_("the file is larger than %(size)s MB"), {}),
    (N_("the file has more than %(rows)s rows; split it into smaller files"), {}),
    (N_("more cells than the header has columns"), {}),
    (N_("the file is empty: expected a header row and one row per line"), {}),
    (N_("the file is neither UTF-8 text nor an XLSX workbook"), {}),
    (N_("unreadable CSV: %(detail)s"), {}),
    (N_("the file is not a readable XLSX workbook"), {}),
    (N_("the workbook has no sheet"), {}),
    (N_("the file holds no licences"), {}),
    (N_("missing column"), {}),
    (N_("unknown column; expected: %(columns)s"), {}),
    (N_("column given twice"), {}),
    (N_("(empty)"), {}),
    (N_("required: 1 to 64 characters without spaces"), {}),
    (N_("required"), {}),
    (N_("no framework contract with this reference: %(value)s"), {}),
    (N_("no active hospital with this URA: %(value)s"), {}),
    (N_("no tool with this slug: %(value)s"), {}),
    (N_("a date as YYYY-MM-DD is required"), {}),
    (N_("a whole number of studies, or empty for no quota"), {}),
    (N_("one of term, year, month"), {}),
    (N_("one of deny, overage"), {}),
    (N_("the same reference as line %(line)s"), {}),
    (N_("a licence with this reference already exists"), {}),
    (N_("a framework contract with this reference already exists"), {}),
    (N_("must be a hospital"), {}),
    (N_("the framework contract does not cover this tool"), {}),
    (N_("ends before it starts"), {}),
    (N_("a call-off must lie within its framework contract's term (%(start)s to %(end)s)"), {}),
    (N_("the framework has a ceiling of %(limit)s; a call-off without a quota would be unbounded"), {}),
    (N_("all call-offs together would commit %(value)s, above the framework's ceiling of %(limit)s"), {}),
]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _pattern(msgid: str, kinds: dict[str, str]) -> re.Pattern[str]:
    from registry.workspace.labels import ENUMS

    parts, seen, at = [], set(), 0
    for found in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[at:found.start()]))
        name = found.group(1)
        kind = kinds.get(name)
        if name in seen:  # the same value twice: the second must repeat the first
            parts.append(f"(?P={name})")
        elif kind is not None and kind != SENTENCE:  # only a code the enumeration knows
            codes = sorted(ENUMS[kind], key=len, reverse=True)
            parts.append(f"(?P<{name}>{'|'.join(map(re.escape, codes))})")
        else:
            parts.append(f"(?P<{name}>.+?)")
        seen.add(name)
        at = found.end()
    parts.append(re.escape(msgid[at:]))
    return re.compile("".join(parts), re.DOTALL)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str, dict[str, str]]]:
    return [(_pattern(msgid, kinds), msgid, kinds) for msgid, kinds in SENTENCES]


def sentence(text: Any) -> str:
    """``text`` in the user's language when it is one of the registry's sentences, else as it is."""
    if not text:
        return text or ""
    text = str(text)
    from registry.workspace.labels import label

    for pattern, msgid, kinds in _patterns():
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = found.groupdict()
        if not values:
            return _(msgid)
        for name, kind in kinds.items():
            values[name] = sentence(values[name]) if kind == SENTENCE else label(kind, values[name])
        return _(msgid, **values)
    return text
