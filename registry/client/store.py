"""The gateway's local state in one SQLite file, so that a restart (or a kill) loses nothing.

What a gateway must not forget: usage events it has queued but the registry has not answered
(reported once, never lost: each keeps its event id, so a batch re-sent after a crash is counted
once by the registry), the events the registry refused (kept for a person, never re-sent),
offline permits not yet regularised and how much of each tool's offline allowance they used,
offline permits the registry no longer confirms, and the last verified bundle with the keys it
was verified with. Every change is committed before the client acts on it.

Standard library only: the client never imports the server.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE, event TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (seq INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offline_records (offline_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unreconciled (offline_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offline_used (bundle_iat INTEGER NOT NULL, tool TEXT NOT NULL,
    used INTEGER NOT NULL, PRIMARY KEY (bundle_iat, tool));
CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value TEXT);
"""


class LocalStore:
    """One gateway's state file. Thread-safe; each method is one committed transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL + synchronous=FULL: a committed change survives a crash of the process or machine.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _write(self, statements: Iterable[tuple[str, tuple]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- usage ------------------------------------------------------------------------------------

    def queue(self) -> list[dict[str, Any]]:
        return [json.loads(e) for (e,) in self._rows("SELECT event FROM usage_queue ORDER BY seq")]

    @staticmethod
    def _enqueue(event: dict[str, Any]) -> tuple[str, tuple]:
        # OR IGNORE: an event already queued under its id (a regularisation redone after a crash)
        # stays queued once.
        return ("INSERT OR IGNORE INTO usage_queue (event_id, event) VALUES (?, ?)",
                (event["event_id"], json.dumps(event)))

    def enqueue(self, event: dict[str, Any]) -> None:
        self._write([self._enqueue(event)])

    def answered(self, event_ids: list[str], rejected: list[dict[str, Any]]) -> None:
        """The registry answered a batch: its events leave the queue, the refused ones are kept."""
        self._write([("DELETE FROM usage_queue WHERE event_id = ?", (e,)) for e in event_ids]
                    + [("INSERT INTO rejected (item) VALUES (?)", (json.dumps(r),)) for r in rejected])

    def rejected(self) -> list[dict[str, Any]]:
        return [json.loads(i) for (i,) in self._rows("SELECT item FROM rejected ORDER BY seq")]

    # -- offline permits --------------------------------------------------------------------------

    def offline_records(self) -> list[dict[str, Any]]:
        return [json.loads(r) for (r,) in self._rows("SELECT record FROM offline_records")]

    def unreconciled(self) -> list[dict[str, Any]]:
        return [json.loads(r) for (r,) in self._rows("SELECT record FROM unreconciled")]

    def offline_used(self) -> dict[tuple[int, str], int]:
        return {(iat, tool): n for iat, tool, n in
                self._rows("SELECT bundle_iat, tool, used FROM offline_used")}

    def save_offline(self, record: dict[str, Any], used_key: tuple[int, str] | None = None) -> None:
        """Keep an offline permit (and, when it is new, the allowance it used) in one commit."""
        statements = [("INSERT OR REPLACE INTO offline_records (offline_id, record) VALUES (?, ?)",
                       (record["offline_id"], json.dumps(record)))]
        if used_key is not None:
            statements.append(("INSERT INTO offline_used (bundle_iat, tool, used) VALUES (?, ?, 1) "
                               "ON CONFLICT (bundle_iat, tool) DO UPDATE SET used = used + 1", used_key))
        self._write(statements)

    def regularised(self, record: dict[str, Any], event: dict[str, Any] | None) -> None:
        """An offline permit asked online: its usage event queued (permit) or the record kept for
        a person (deny), and the offline record gone, in one commit."""
        statements = [("DELETE FROM offline_records WHERE offline_id = ?", (record["offline_id"],))]
        if event is not None:
            statements.append(self._enqueue(event))
        else:
            statements.append(("INSERT OR REPLACE INTO unreconciled (offline_id, record) VALUES (?, ?)",
                               (record["offline_id"], json.dumps(record))))
        self._write(statements)

    # -- bundle and keys --------------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        rows = self._rows("SELECT value FROM kv WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def put(self, **values: str | None) -> None:
        self._write([("INSERT OR REPLACE INTO kv (name, value) VALUES (?, ?)", (k, v))
                     for k, v in values.items()])
