"""Exports of audit entries as CSV, JSON lines and a FHIR R4 AuditEvent bundle.

Every format is built from plain records (``entry_record``), never from ORM objects, so that an
export shows exactly what was stored. The patient appears only as the pseudonym the gateway sent.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

from registry.audit.chain import HASHED_FIELDS, utc_stamp
from registry.db.audit import AuditEntry

FILENAMES = {"csv": "audit.csv", "jsonl": "audit.jsonl", "fhir": "audit-fhir.json"}
CSV_COLUMNS = ("seq", *HASHED_FIELDS, "prev_hash", "entry_hash")
_JSON_COLUMNS = {"objects", "checks", "detail"}

# FHIR R4 AuditEvent codes (http://hl7.org/fhir/R4/auditevent.html).
_OUTCOME = {"success": "0", "denied": "4", "failure": "8"}  # 4 = minor failure (refused)
_EVENT_TYPE_SYSTEM = "urn:aifi:registry:audit-event-type"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_PSEUDONYM_SYSTEM = "urn:aifi:registry:patient-pseudonym"
_OBJECT_SYSTEM = "urn:aifi:registry:object"


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    record = {name: getattr(entry, name) for name in CSV_COLUMNS}
    record["recorded_at"] = utc_stamp(entry.recorded_at)
    return record


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: json.dumps(v, sort_keys=True) if k in _JSON_COLUMNS else _cell(v)
                         for k, v in record.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    # Spreadsheet formula injection: a cell starting with = + - @ is shown as text, not run.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def _entity(obj: dict[str, Any], checks: dict[str, Any]) -> dict[str, Any]:
    kind, ident = str(obj.get("type", "")), str(obj.get("id", ""))
    if kind == "patient":
        # NEN 7513: the patient as data subject, identified only by the pseudonym.
        return {"what": {"identifier": {"system": _PSEUDONYM_SYSTEM, "value": ident}},
                "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"}}
    entity: dict[str, Any] = {
        "what": {"identifier": {"system": f"{_OBJECT_SYSTEM}:{kind}", "value": ident}},
        "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
        "name": f"{kind}/{ident}"}
    if kind == "decision" and checks:
        # The Dutch profile's "which checks were made" (authorisation, consent, …).
        entity["detail"] = [{"type": f"check:{k}", "valueString": json.dumps(v, sort_keys=True)
                             if not isinstance(v, str) else v} for k, v in sorted(checks.items())]
    return entity


def to_fhir_auditevent(record: dict[str, Any]) -> dict[str, Any]:
    """One entry as a FHIR R4 AuditEvent resource (plain JSON)."""
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                             "code": "AUT", "display": "author"}]},
        "who": {"identifier": {"system": "urn:aifi:registry:actor", "value": record["actor"]}},
        "requestor": True,
        "role": [{"text": role} for role in str(record["actor_role"]).split(",") if role],
    }
    if record["on_behalf_of_id"] is not None:
        agent["who"]["display"] = f"on behalf of organisation {record['on_behalf_of_id']}"
    if record["purpose_of_use"]:
        agent["purposeOfUse"] = [{"text": record["purpose_of_use"]}]
    if record["network_access_point"]:
        agent["network"] = {"address": record["network_access_point"], "type": "2"}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": record["event_id"],
        "type": {"system": _EVENT_TYPE_SYSTEM, "code": record["event_type"]},
        "action": record["action_code"],
        "recorded": record["recorded_at"],
        "outcome": _OUTCOME.get(record["outcome"], "8"),
        "outcomeDesc": record["outcome"],
        "agent": [agent],
        "source": {"site": record["source_system"],
                   "observer": {"display": record["source_system"]},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
        "entity": [_entity(o, record["checks"]) for o in record["objects"]],
    }
    if record["purpose_of_use"]:
        event["purposeOfEvent"] = [{"text": record["purpose_of_use"]}]
    return event


def to_fhir_bundle(records: Iterable[dict[str, Any]], *, timestamp: str) -> dict[str, Any]:
    """A ``collection`` Bundle of AuditEvents (FHIR R4)."""
    return {"resourceType": "Bundle", "type": "collection", "timestamp": timestamp,
            "entry": [{"fullUrl": f"urn:uuid:{r['event_id']}", "resource": to_fhir_auditevent(r)}
                      for r in records]}
