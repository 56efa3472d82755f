"""Access logging (NEN 7513 §5): authentication events, refusals and reads of personal or audit
data, as entries of the same trail and with the same fields as decisions and changes.

Nothing here runs on the decision path: a decision already writes its own entry.
Values that come from a request (an e-mail typed at login, a path, a client id) are cleaned
before they are stored: no control characters (PostgreSQL refuses NUL in text), bounded length.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.audit.entries import EXECUTE
from registry.audit.entries import READ as READ_CODE
from registry.audit.entries import append_entry
from registry.db.audit import AuditEntry
from registry.db.decisions import Decision

# Event types of the access log (AuditEntry.event_type).
LOGIN = "login"  # outcome success, failure, or denied (locked out by throttling)
LOGOUT = "logout"
TOKEN_ISSUED = "token"
CLIENT_AUTH = "client-auth"  # a failed OAuth client authentication
REFUSED = "refused"  # a 401 or 403 at an edge
READ = "read"  # personal or audit data shown to someone


def printable(value: object, limit: int) -> str:
    """``value`` as text without control characters, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text[:limit])


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value, 500)
    if isinstance(value, dict):
        return {printable(k, 80): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def anonymous(*, request_id: str | None, network_access_point: str) -> Actor:
    """Someone not (yet) authenticated: a failed login, an unknown client, a missing token."""
    return Actor(kind="anonymous", id="-", request_id=request_id,
                 network_access_point=printable(network_access_point, 64))


def log_access(session: Session, *, actor: Actor, at: datetime, event_type: str, outcome: str,
               object_type: str, object_id: str, action_code: str = EXECUTE,
               detail: dict[str, Any] | None = None, on_behalf_of_id: int | None = None,
               objects: list[dict[str, Any]] | None = None, purpose_of_use: str = "") -> AuditEntry:
    """Append one access-log entry (unsealed, in the caller's transaction; the edge commits)."""
    object_id = printable(object_id, 64)
    entry = append_entry(session, actor=actor, at=at, event_type=event_type,
                         action_code=action_code, outcome=outcome, object_type=object_type,
                         object_id=object_id, detail=_clean(detail or {}),
                         objects=_clean(objects or [{"type": object_type, "id": object_id}]),
                         purpose_of_use=purpose_of_use)
    entry.network_access_point = printable(entry.network_access_point, 64)
    if actor.request_id:
        entry.detail = dict(entry.detail, request_id=printable(actor.request_id, 64))
    if on_behalf_of_id is not None:
        entry.on_behalf_of_id = on_behalf_of_id
    return entry


def log_decision_read(session: Session, *, actor: Actor, at: datetime, decision: Decision,
                      pseudonym_shown: bool) -> AuditEntry:
    """A stored decision was shown to someone: its study key, and its patient's pseudonym when
    ``pseudonym_shown``. The patient is among the entry's objects, so the patient's history
    (registry.services.audit.object_history) lists who saw the pseudonym."""
    objects = [{"type": "decision", "id": decision.id},
               {"type": "study", "id": decision.study_key, "sensitivity": "opaque-key"}]
    pseudonym = decision.request.get("patient_pseudonym")
    if pseudonym and pseudonym_shown:
        objects.append({"type": "patient", "id": pseudonym, "sensitivity": "pseudonym"})
    return log_access(session, actor=actor, at=at, event_type=READ, action_code=READ_CODE,
                      outcome="success", object_type="decision", object_id=decision.id,
                      objects=objects, detail={"pseudonym_shown": bool(pseudonym and pseudonym_shown)},
                      purpose_of_use=decision.purpose)
