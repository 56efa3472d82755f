"""The terms a decision reads, kept in memory per process, never stale across instances.

Terms (tools and versions with their processing chain, licences with their contracts,
agreements with their sub-processors, purposes) change a few times a day and are read for every
study in the country. Each decision reads the terms revision (``services/terms_revision.py``) in
its own transaction; the entries held here belong to one revision and are all dropped the moment a
decision sees a newer one. Entries are filled lazily, one (hospital, tool) or (hospital,
processor) at a time, so a registry of 20,000 licences costs memory only for what is decided on.

The rows are ORM instances detached from any session (the models have no relationships, so
nothing lazy-loads): read-only, shared by the threads of one process.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from sqlalchemy.orm import Session

# Far above what one registry decides on; a guard against unbounded growth, not a tuning knob.
MAX_ENTRIES = 200_000


class TermsCache:
    """Entries of the newest terms revision seen by this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._entries: dict[Any, Any] = {}

    def entries(self, revision: int) -> dict[Any, Any]:
        """The entries for ``revision``; an older revision (a transaction that began before a
        newer one was seen) gets a private, empty dict, so it never fills the shared one."""
        with self._lock:
            if self._revision is None or revision > self._revision:
                self._revision, self._entries = revision, {}
            elif revision < self._revision:
                return {}
            elif len(self._entries) > MAX_ENTRIES:
                self._entries = {}
            return self._entries

    @property
    def revision(self) -> int | None:
        return self._revision


class TermsView:
    """The terms at one revision, as seen from one transaction: a hit costs a dict lookup, a
    miss one query on the transaction's own connection (consistent with the revision read)."""

    def __init__(self, session: Session, entries: dict[Any, Any]) -> None:
        self._session = session
        self._entries = entries

    def get(self, key: tuple, load: Callable[[Session], Any]) -> Any:
        try:
            return self._entries[key]
        except KeyError:
            pass
        # A session of its own on the same connection: the rows it loads are detached when it
        # closes, so the request's session (and its identity map) never holds shared instances.
        with Session(bind=self._session.connection(), autoflush=False, expire_on_commit=False) as loader:
            value = load(loader)
        self._entries[key] = value
        return value
