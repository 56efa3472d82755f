"""Usage metering: what a gateway actually did with a permit, counted exactly once.

A permit reserves one unit of quota (``reservation = reserved``). The gateway then reports one
usage event for it:

- ``completed`` confirms the unit (``confirmed``: billable);
- ``failed`` / ``cancelled`` gives it back (``released``).

Reservations never reported within ``settings.reservation_window`` seconds are released by
:func:`expire_reservations` and left ``expired``: flagged for reconciliation.

Exactly once, in three layers: the (hospital, event_id) lookup answers a retried event as a
duplicate; a conditional ``UPDATE … WHERE reservation = <expected>`` finalises each decision at
most once, also under concurrent reports on several instances; and the unique constraint
``(hospital_id, event_id)`` on ``usage_events`` is the backstop. Each event runs in its own
savepoint, so one bad event never loses the good ones in the same batch.

No ChangeRecord is written per event: change records (before/after JSON) are for master data that
people edit; usage is high-volume machine traffic whose before/after is fixed by the reservation
state machine. The immutable ``UsageEvent`` row plus one NEN 7513 audit entry per event (same
transaction) record who reported what and when.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from registry.actor import Actor, PermissionDenied
from registry.audit.entries import ENTRY_KEYS, UPDATE, append_entry, entry_values
from registry.clock import Clock
from registry.db.audit import AuditEntry
from registry.db.contracts import Licence, QuotaCounter
from registry.db.decisions import Decision, Reservation, UsageEvent
from registry.db.direct import BulkInsert, JsonText, one_of
from registry.db.organisations import Organisation
from registry.db.tools import Tool
from registry.domain.quota import quota_window
from registry.permissions import Permission
from registry.scope import scope_of, visibility
from registry.services import quota as quota_service
from registry.services.errors import ValidationFailed

log = logging.getLogger("registry.usage")

MAX_EVENTS = 1000
# Clock skew we tolerate between a gateway and the registry for occurred_at.
MAX_FUTURE_SKEW = timedelta(minutes=5)
# No usage can have happened before the registry existed; anything earlier is a gateway's bug.
EARLIEST_OCCURRED_AT = datetime(2020, 1, 1, tzinfo=timezone.utc)
# How many reservations one opportunistic sweep (piggy-backed on a usage report) may expire.
OPPORTUNISTIC_EXPIRY_LIMIT = 50

COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
_TARGET = {COMPLETED: Reservation.CONFIRMED, FAILED: Reservation.RELEASED,
           CANCELLED: Reservation.RELEASED}


class UsageEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=256)

    event_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    decision_id: Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]
    outcome: Literal["completed", "failed", "cancelled"]
    occurred_at: AwareDatetime


@dataclass
class UsageReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class _Reject(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


class _Duplicate(Exception):
    pass


def _validate(raw: Any, now: datetime) -> UsageEventIn:
    """The event, or _Reject. What passes is storable on both databases: ids are printable ASCII
    (no NUL, which PostgreSQL cannot hold in text), bounded in length, and ``occurred_at`` lies
    between :data:`EARLIEST_OCCURRED_AT` and a few minutes from now (a year-1 timestamp with an
    offset has no UTC value a database column can take)."""
    if not isinstance(raw, dict):
        raise _Reject("INVALID_EVENT", "an event must be a JSON object")
    try:
        # Validated in JSON mode (the envelope was JSON): an ISO 8601 string is a datetime there,
        # while strict mode still refuses numbers for strings and the like.
        event = UsageEventIn.model_validate_json(json.dumps(raw))
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}"
                           for e in exc.errors())
        raise _Reject("INVALID_EVENT", detail) from None
    return _in_range(event, now)


def _in_range(event: UsageEventIn, now: datetime) -> UsageEventIn:
    try:
        occurred = event.occurred_at.astimezone(timezone.utc)
    except OverflowError:
        raise _Reject("INVALID_EVENT", "occurred_at: out of range") from None
    if occurred < EARLIEST_OCCURRED_AT:
        raise _Reject("INVALID_EVENT", "occurred_at: before the registry existed")
    if occurred > now + MAX_FUTURE_SKEW:
        raise _Reject("INVALID_EVENT", "occurred_at: lies in the future")
    return event


_EVENT_LIST = TypeAdapter(list[UsageEventIn])


def _validate_all(events: list[Any], now: datetime) -> list[tuple[int, UsageEventIn | _Reject]]:
    """Each event validated, or its _Reject, by index.

    The whole list is parsed in one call first (one JSON text, one pass of the validator, where
    one call per event cost a report a tenth of its time); the same model judges each item, so
    when every event is well-formed the result is the one :func:`_validate` gives event by event.
    Should any be malformed, every event goes through :func:`_validate` on its own, for its own
    rejection.
    """
    checked: list[tuple[int, UsageEventIn | _Reject]] = []
    try:
        parsed = _EVENT_LIST.validate_json(json.dumps(events))
    except ValidationError:
        parsed = None
    for index, raw in enumerate(events):
        try:
            checked.append((index, _validate(raw, now) if parsed is None else _in_range(parsed[index], now)))
        except _Reject as rej:
            checked.append((index, rej))
    return checked


def _unstorable(exc: StatementError) -> bool:
    """A value the database (or the column type on the way in) refused, as opposed to a database
    that cannot be reached: the first rejects one event, the second fails the request (503)."""
    return isinstance(exc, DataError) or not isinstance(exc, DBAPIError)


def report_usage(session: Session, *, actor: Actor, clock: Clock,
                 events: list[Any]) -> UsageReport:
    """Record a gateway's usage events (at most :data:`MAX_EVENTS`) for its own hospital.

    Returns how many were accepted, how many were duplicates of events already recorded, and a
    rejection (index, code, detail) for each of the others. Flushes; the edge commits.
    """
    actor.require(Permission.USAGE_REPORT)
    if actor.kind != "gateway" or actor.hospital_id is None or actor.gateway_id is None:
        # Usage is the gateway's own statement about its hospital's studies: nobody else makes it.
        raise PermissionDenied(Permission.USAGE_REPORT, actor)
    if len(events) > MAX_EVENTS:
        raise ValidationFailed(f"at most {MAX_EVENTS} events per request",
                               {"events": f"{len(events)} events"})
    now = clock.now()
    # Every event is judged on its own: first validated (nothing unvalidated reaches a query),
    # then recorded in a savepoint of its own, so one bad event is one rejected index.
    checked = _validate_all(events, now)
    decisions = _lock_decisions(session, actor, [e for _, e in checked if isinstance(e, UsageEventIn)])
    try:
        # The whole batch in a handful of statements; should anything not fit (a value the
        # database refuses after all, a concurrent report of the same event), the savepoint
        # undoes it and every event is recorded on its own instead, in a savepoint of its own.
        with session.begin_nested():
            return _record_batch(session, actor=actor, now=now, checked=checked, decisions=decisions)
    except _BatchFallback as exc:
        log.info("usage batch recorded event by event: %s", exc)
    except IntegrityError as exc:
        log.info("usage batch recorded event by event: %s", type(exc).__name__)
    except StatementError as exc:
        if not _unstorable(exc):
            raise
        log.info("usage batch recorded event by event: %s", type(exc.orig or exc).__name__)
    return _record_each(session, actor=actor, now=now, checked=checked)


def _record_each(session: Session, *, actor: Actor, now: datetime,
                 checked: list[tuple[int, UsageEventIn | _Reject]]) -> UsageReport:
    """The batch event by event, each in a savepoint: one bad event is one rejected index."""
    report = UsageReport()
    quota_moves: list[tuple[str, Decision]] = []
    for index, event in checked:
        try:
            if isinstance(event, _Reject):
                raise event
            with session.begin_nested():
                move = _record_one(session, actor=actor, now=now, event=event)
                session.flush()
            if move is not None:
                quota_moves.append(move)
            report.accepted += 1
        except _Duplicate:
            report.duplicates += 1
        except _Reject as rej:
            report.rejected.append({"index": index, "code": rej.code, "detail": rej.detail})
        except IntegrityError:
            # Lost a race with a concurrent report of the same event_id (the unique constraint is
            # the backstop); the savepoint is rolled back, so classify against what is now stored.
            try:
                _classify_existing(session, actor, event)
            except _Duplicate:
                report.duplicates += 1
            except _Reject as rej:
                report.rejected.append({"index": index, "code": rej.code, "detail": rej.detail})
            else:  # pragma: no cover - a constraint other than the event id failed
                raise
        except StatementError as exc:
            if not _unstorable(exc):
                raise
            # A backstop behind _validate: the savepoint is rolled back; the batch goes on.
            log.warning("usage event refused by the database: %s", type(exc.orig or exc).__name__)
            report.rejected.append({"index": index, "code": "INVALID_EVENT",
                                    "detail": "a value of this event cannot be stored"})
    _move_quota(session, quota_moves)
    return report



_USAGE_ROWS = BulkInsert(UsageEvent.__table__, ("event_id", "hospital_id", "gateway_id", "decision_id",
                                                "outcome", "occurred_at", "received_at"))
_AUDIT_ROWS = BulkInsert(AuditEntry.__table__, ENTRY_KEYS)


class _BatchFallback(Exception):
    """The batch path met something it does not handle; the events are recorded one by one."""


def _record_batch(session: Session, *, actor: Actor, now: datetime,
                  checked: list[tuple[int, UsageEventIn | _Reject]],
                  decisions: dict[str, Any]) -> UsageReport:
    """The batch in a handful of statements whatever its size: the existing events by id, one
    conditional UPDATE per reservation move, one multi-row INSERT each of usage events and audit
    entries, one counter update per (licence, window). The same judgement as
    :func:`_record_one`, event by event in batch order, over rows locked by _lock_decisions."""
    report = UsageReport()
    conn = session.connection()
    valid = [e for _, e in checked if isinstance(e, UsageEventIn)]
    known = {row.event_id: (row.decision_id, row.outcome) for row in conn.execute(
        select(UsageEvent.event_id, UsageEvent.decision_id, UsageEvent.outcome)
        .where(UsageEvent.hospital_id == actor.hospital_id,
               one_of(UsageEvent.event_id, sorted({e.event_id for e in valid}), conn.dialect)))} if valid else {}
    state = {decision_id: row.reservation for decision_id, row in decisions.items()}
    moves: dict[tuple[str, str], list[str]] = {}
    releases: dict[tuple[int, date], int] = {}
    usage_rows, audit_rows = [], []
    for index, event in checked:
        try:
            if isinstance(event, _Reject):
                raise event
            if event.event_id in known:
                if known[event.event_id] == (event.decision_id, event.outcome):
                    raise _Duplicate()
                raise _Reject("EVENT_ID_REUSED", "this event_id was already used for another decision "
                              "or outcome; event ids must be unique per hospital")
            decision = decisions.get(event.decision_id)
            if decision is None:
                raise _Reject("DECISION_NOT_FOUND", f"no decision {event.decision_id}")
            if decision.kind != "decide" or decision.reservation == Reservation.NONE:
                raise _Reject("NOT_A_RESERVATION", "this decision reserved nothing (a deny, dry run or "
                              "evaluation); there is no usage to report for it")
            before, target = state[decision.id], _TARGET[event.outcome]
            if before in (Reservation.CONFIRMED, Reservation.RELEASED):
                if before == target:
                    raise _Duplicate()
                raise _Reject("DECISION_ALREADY_FINALISED", f"this decision was already reported as {before}")
            if target == Reservation.CONFIRMED and before == Reservation.EXPIRED:
                raise _BatchFallback("a late completion takes quota again")  # rare: one by one
        except _Duplicate:
            report.duplicates += 1
            continue
        except _Reject as rej:
            report.rejected.append({"index": index, "code": rej.code, "detail": rej.detail})
            continue
        state[decision.id] = target
        known[event.event_id] = (event.decision_id, event.outcome)
        moves.setdefault((before, target), []).append(decision.id)
        if target == Reservation.RELEASED and before == Reservation.RESERVED:
            key = (decision.licence_id, decision.quota_window_start)
            releases[key] = releases.get(key, 0) + 1
        usage_rows.append({"event_id": event.event_id, "hospital_id": actor.hospital_id,
                           "gateway_id": actor.gateway_id, "decision_id": decision.id,
                           "outcome": event.outcome, "occurred_at": event.occurred_at, "received_at": now})
        audit_rows.append(_usage_audit_row(actor, now, decision, event, before, target))
        report.accepted += 1
    for (before, target), ids in sorted(moves.items()):
        moved = conn.execute(update(Decision).where(one_of(Decision.id, ids, conn.dialect),
                                                    Decision.reservation == before)
                             .values(reservation=target, finalised_at=now)).rowcount
        if moved != len(ids):  # pragma: no cover - the rows are locked; SQLite has one writer
            raise _BatchFallback("a reservation moved under the batch")
    # COPY on PostgreSQL (a thousand rows are one statement), executemany on SQLite.
    _USAGE_ROWS.run(conn, usage_rows)
    _AUDIT_ROWS.run(conn, audit_rows)
    for (licence_id, window_start), n in sorted(releases.items()):  # counters last, in order
        quota_service.release(session, licence_id, window_start, n)
    return report


_BATCH_COLUMNS = (Decision.id, Decision.kind, Decision.reservation, Decision.licence_id,
                  Decision.quota_window_start, Decision.tool_slug, Decision.study_key, Decision.purpose)


class _Locked(NamedTuple):
    """A decision of the batch as _lock_decisions read it. A plain named tuple, not SQLAlchemy's
    Row: the Row's attribute access first fails a lookup on its type (an AttributeError built
    and dropped each time), and the batch reads about a dozen attributes per event -- 8 % of a
    report's instructions."""

    id: str
    kind: str
    reservation: str
    licence_id: int | None
    quota_window_start: date | None
    tool_slug: str
    study_key: str
    purpose: str


def _lock_decisions(session: Session, actor: Actor, events: list[UsageEventIn]) -> dict[str, Any]:
    """Lock the batch's decisions up front, in id order (PostgreSQL; SQLite has one writer).

    With every writer taking decision rows first (in id order, or skipping locked ones as the
    sweep does) and quota counters last (in licence order), no two transactions wait on each
    other in a circle: concurrent reports and sweeps cannot deadlock.
    """
    ids = sorted({e.decision_id for e in events})
    if not ids:
        return {}
    # Read after the lock is granted: what a concurrent report finalised is seen here.
    conn = session.connection()
    rows = conn.execute(select(*_BATCH_COLUMNS).where(one_of(Decision.id, ids, conn.dialect),
                                                      Decision.hospital_id == actor.hospital_id)
                        .order_by(Decision.id).with_for_update()).all()  # one fetch, not one per row
    return {row[0]: _Locked._make(row) for row in rows}


def _move_quota(session: Session, moves: list[tuple[str, Decision]]) -> None:
    """Apply the quota changes of a batch last, in (licence, window) order (see _lock_decisions)."""
    for kind, decision in sorted(moves, key=lambda m: (m[1].licence_id, m[1].quota_window_start,
                                                       m[1].id)):
        if kind == "release":
            quota_service.release(session, decision.licence_id, decision.quota_window_start)
        elif kind == "retake":
            _retake(session, decision)


def _classify_existing(session: Session, actor: Actor, event: UsageEventIn) -> None:
    """Raise _Duplicate or _Reject when this event_id is already recorded; return if it is new."""
    existing = session.scalar(select(UsageEvent).where(UsageEvent.hospital_id == actor.hospital_id,
                                                       UsageEvent.event_id == event.event_id))
    if existing is None:
        return
    if existing.decision_id == event.decision_id and existing.outcome == event.outcome:
        raise _Duplicate()
    raise _Reject("EVENT_ID_REUSED", "this event_id was already used for another decision or "
                  "outcome; event ids must be unique per hospital")


def _record_one(session: Session, *, actor: Actor, now: datetime,
                event: UsageEventIn) -> tuple[str, Decision] | None:
    _classify_existing(session, actor, event)
    decision = session.get(Decision, event.decision_id)
    if decision is None or decision.hospital_id != actor.hospital_id:
        # Another hospital's decision does not exist for this caller.
        raise _Reject("DECISION_NOT_FOUND", f"no decision {event.decision_id}")
    if decision.kind != "decide" or decision.reservation == Reservation.NONE:
        raise _Reject("NOT_A_RESERVATION", "this decision reserved nothing (a deny, dry run or "
                      "evaluation); there is no usage to report for it")
    target = _TARGET[event.outcome]
    # At most two rounds: if a concurrent report or the expiry sweep moved the reservation
    # between our read and our conditional update, decide again on the state it now has.
    for _ in range(2):
        before = decision.reservation
        if before in (Reservation.CONFIRMED, Reservation.RELEASED):
            if before == target:
                # The same finalisation under another event id (for instance a gateway that lost
                # its queue and re-sent with new ids): counted once, not an error.
                raise _Duplicate()
            raise _Reject("DECISION_ALREADY_FINALISED",
                          f"this decision was already reported as {before}")
        if _transition(session, decision.id, before, target, now):
            break
        session.refresh(decision)
    else:  # only under a storm of concurrent writers on one decision (a test fakes one)
        raise _Reject("CONFLICT", "the decision changed while reporting; retry")
    late = before == Reservation.EXPIRED
    move = None
    if target == Reservation.RELEASED and before == Reservation.RESERVED:
        move = ("release", decision)
    elif target == Reservation.CONFIRMED and late:
        # A late completion: the study was processed, so it is billable. The expiry gave the unit
        # back; take it again, past the limit if need be (the work is done: it is overage, and
        # the decision is marked so).
        move = ("retake", decision)
    # (expired → released needs no quota change: the sweep already gave the unit back.)
    session.refresh(decision)
    session.add(UsageEvent(event_id=event.event_id, hospital_id=actor.hospital_id,
                           gateway_id=actor.gateway_id, decision_id=decision.id,
                           outcome=event.outcome, occurred_at=event.occurred_at, received_at=now))
    _AUDIT_ROWS.run(session.connection(), [_usage_audit_row(actor, now, decision, event, before, target)])
    return move


# json.dumps of one string, as json.dumps writes strings inside a document (ensure_ascii).
_quote = json.encoder.encode_basestring_ascii


def _usage_audit_row(actor: Actor, now: datetime, decision: Any, event: UsageEventIn, before: str,
                     target: str) -> dict[str, Any]:
    """The NEN 7513 entry of one recorded usage event (U on its decision), as column values for
    :data:`_AUDIT_ROWS` (the batch's bulk insert, and the event-by-event path's single row). Its
    two JSON documents are written out as the text ``json.dumps`` makes of them, only the strings
    encoded one by one: encoding a report's thousand entries from dicts was a tenth of its time."""
    row = entry_values(actor=actor, at=now, event_type="usage", action_code=UPDATE, outcome="success",
                       object_type="decision", object_id=decision.id, purpose_of_use=decision.purpose)
    row["objects"] = JsonText(
        f'[{{"type": "decision", "id": {_quote(decision.id)}}}, '
        f'{{"type": "tool", "id": {_quote(decision.tool_slug)}}}, '
        f'{{"type": "study", "id": {_quote(decision.study_key)}, "sensitivity": "opaque-key"}}]')
    row["detail"] = JsonText(
        f'{{"event_id": {_quote(event.event_id)}, "outcome": {_quote(event.outcome)}, '
        f'"occurred_at": {_quote(event.occurred_at.isoformat())}, '
        f'"reservation": {{"before": {_quote(str(before))}, "after": {_quote(str(target))}}}, '
        f'"late": {"true" if before == Reservation.EXPIRED else "false"}}}')
    row["checks"] = _NO_CHECKS
    return row


_NO_CHECKS = JsonText("{}")


def _transition(session: Session, decision_id: str, before: str, after: str, now: datetime) -> bool:
    """Move one reservation from ``before`` to ``after``; False if someone else moved it first."""
    result = session.execute(
        update(Decision).where(Decision.id == decision_id, Decision.reservation == before)
        .values(reservation=after, finalised_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _retake(session: Session, decision: Decision) -> bool:
    lic = session.get(Licence, decision.licence_id)
    window = quota_window(lic.quota_period, lic.starts_on, lic.ends_on, decision.quota_window_start)
    overage = quota_service.reserve(session, lic.id, window, lic.quota_limit, allow_overage=True).overage
    if overage and not decision.overage:
        session.execute(update(Decision).where(Decision.id == decision.id).values(overage=True)
                        .execution_options(synchronize_session=False))
    return overage


# -- expiry -----------------------------------------------------------------------------------------

def expire_reservations(session: Session, *, actor: Actor, clock: Clock, window_seconds: int,
                        limit: int | None = None) -> int:
    """Release reservations not confirmed within ``window_seconds`` and mark them ``expired``.

    Oldest first, at most ``limit`` (all when None). Returns how many expired. Safe to run on
    several instances at once and concurrently with usage reports: each row moves by a
    conditional update, and on PostgreSQL rows another sweep holds are skipped.
    """
    actor.require(Permission.USAGE_REPORT)
    now = clock.now()
    cutoff = now - timedelta(seconds=window_seconds)
    query = (select(Decision.id, Decision.licence_id, Decision.quota_window_start, Decision.purpose)
             .where(Decision.reservation == Reservation.RESERVED, Decision.decided_at <= cutoff)
             .order_by(Decision.decided_at, Decision.id)
             .with_for_update(skip_locked=True))  # SQLite ignores FOR UPDATE; its writer is single
    if limit is not None:
        query = query.limit(limit)
    expired = 0
    releases = []
    for row in session.execute(query).all():
        if not _transition(session, row.id, Reservation.RESERVED, Reservation.EXPIRED, now):
            continue  # reported meanwhile
        releases.append((row.licence_id, row.quota_window_start))
        append_entry(session, actor=actor, at=now, event_type="usage", action_code=UPDATE,
                     outcome="success", object_type="decision", object_id=row.id,
                     detail={"reservation": {"before": "reserved", "after": "expired"},
                             "reason": f"not confirmed within {window_seconds} s",
                             "reconcile": True},
                     purpose_of_use=row.purpose)
        expired += 1
    for licence_id, window_start in sorted(releases):  # counters last, in order: no deadlock
        quota_service.release(session, licence_id, window_start)
    session.flush()
    return expired


# -- reconciliation -----------------------------------------------------------------------------------

def reconciliation(session: Session, *, actor: Actor, licence_id: int | None = None,
                   period_start: date | None = None) -> list[dict[str, Any]]:
    """Per licence and quota period: permits, completed, released, expired, still reserved, and
    the quota counter. ``consistent`` checks the invariant used == reserved + confirmed. Rows come
    by hospital name and licence reference; with ``period_start``, licences without any usage in
    the period that starts that day are listed too (all zero).

    Staff need usage:read; everyone sees the licences their scope allows (registry.scope).
    """
    if actor.kind == "gateway":
        actor.require(Permission.USAGE_REPORT)
    else:
        actor.require(Permission.USAGE_READ)
    where = [Decision.licence_id.is_not(None), Decision.reservation != Reservation.NONE]
    lic_where = []
    # The one scope rule: a gateway and a hospital's staff see their hospital's licences, a
    # supplier those for its tools, national staff all.
    visible = visibility(scope_of(session, actor), Licence)
    if visible is not None:
        lic_where.append(visible)
    if licence_id is not None:
        where.append(Decision.licence_id == licence_id)
        lic_where.append(Licence.id == licence_id)
    if period_start is not None:
        where.append(Decision.quota_window_start == period_start)
    # Counted by plain GROUP BY on both databases (no FILTER clause, no dialect-specific SQL).
    counts: dict[tuple[int, date], dict[str, int]] = {}
    rows = session.execute(
        select(Decision.licence_id, Decision.quota_window_start, Decision.reservation, func.count())
        .join(Licence, Licence.id == Decision.licence_id).where(*where, *lic_where)
        .group_by(Decision.licence_id, Decision.quota_window_start, Decision.reservation))
    for lic_id, start, state, n in rows:
        counts.setdefault((lic_id, start), {s.value: 0 for s in Reservation})[state] = n
    counter_where = [*lic_where]
    if period_start is not None:
        counter_where.append(QuotaCounter.window_start == period_start)
    if licence_id is not None:
        counter_where.append(QuotaCounter.licence_id == licence_id)
    counters = {(c.licence_id, c.window_start): c for c, in session.execute(
        select(QuotaCounter).join(Licence, Licence.id == QuotaCounter.licence_id)
        .where(*counter_where))}
    keys = set(counts) | set(counters)
    if period_start is not None:
        # Licences with no usage in the period still owe their reconciliation a line (a hospital
        # that never used its call-off is a finding too): every licence whose term covers the day.
        for lic_id, starts_on, ends_on, period in session.execute(
                select(Licence.id, Licence.starts_on, Licence.ends_on, Licence.quota_period)
                .where(*lic_where, Licence.starts_on <= period_start, Licence.ends_on >= period_start)):
            window = quota_window(period, starts_on, ends_on, period_start)
            if window.starts_on == period_start:
                keys.add((lic_id, period_start))
    licences = {lic.id: (lic, slug, org) for lic, slug, org in session.execute(
        select(Licence, Tool.slug, Organisation).join(Tool, Tool.id == Licence.tool_id)
        .join(Organisation, Organisation.id == Licence.hospital_id)
        .where(Licence.id.in_({k[0] for k in keys})))} if keys else {}
    out = []
    # By hospital name and licence reference, as people look them up.
    for lic_id, start in sorted(keys, key=lambda k: (licences[k[0]][2].name, licences[k[0]][0].reference, k[1])):
        c = counts.get((lic_id, start), {s.value: 0 for s in Reservation})
        counter = counters.get((lic_id, start))
        lic, slug, org = licences[lic_id]
        used = counter.used if counter is not None else 0
        # The period as the licence's term now has it: the counter keeps the end its window had
        # at its first reservation, which an extension of the term has moved since. Only a term
        # cut short before the period began leaves the period as it was used.
        end = quota_window(lic.quota_period, lic.starts_on, lic.ends_on, start).ends_on
        if end < start and counter is not None:
            end = counter.window_end
        out.append({
            "licence": {"id": lic.id, "reference": lic.reference, "hospital_id": lic.hospital_id,
                        "tool": slug},
            "hospital": {"ura": org.ura, "name": org.name},
            "period_start": start.isoformat(), "period_end": end.isoformat(),
            "quota_limit": lic.quota_limit,
            "permits": sum(c.values()),
            "completed": c[Reservation.CONFIRMED], "released": c[Reservation.RELEASED],
            "expired": c[Reservation.EXPIRED], "reserved": c[Reservation.RESERVED],
            "quota_used": used,
            "consistent": used == c[Reservation.RESERVED] + c[Reservation.CONFIRMED],
        })
    return out
