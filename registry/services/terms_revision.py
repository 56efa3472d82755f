"""The terms revision: bumped with every change of terms, read once per decision.

The tables below are what a decision reads as its terms. A change to any of them moves the
counter in the same transaction (``services/_rows.py`` calls :func:`note_change` for every row it
creates or updates), so the in-memory terms of every instance (``services/terms_cache.py``) are
dropped before the next decision. What changes by the calendar alone (an end date passing) needs
no bump: the decision judges dates against its own day. Patient objections are not terms: they
are looked up per decision, and change far too often to empty every cache.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm import Session

from registry.db.terms import TermsRevision

TERMS_TABLES = frozenset({
    "organisations", "gateways", "tools", "tool_versions", "framework_contracts", "contract_buyers",
    "contract_tools", "licences", "data_processing_agreements", "agreement_subprocessors", "purposes",
    "deployments",  # AI Act Art. 26: a go-live, suspension or resumption is a change of terms
})

_BUMP = (update(TermsRevision).where(TermsRevision.id == 1)
         .values(revision=TermsRevision.revision + 1))
_READ = select(TermsRevision.revision).where(TermsRevision.id == bindparam("one", 1))


def is_terms(row: Any) -> bool:
    return inspect(row).mapper.local_table.name in TERMS_TABLES


def bump(session: Session) -> None:
    """Move the revision, in the caller's transaction (it commits or rolls back with the change)."""
    session.execute(_BUMP)


def note_change(session: Session, row: Any) -> None:
    """Bump the revision if ``row`` is terms."""
    if is_terms(row):
        bump(session)


def current(session: Session) -> int:
    return session.scalar(_READ)
