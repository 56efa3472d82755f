"""Patients' objections (bezwaar), per hospital, pseudonym and purpose: the privacy officer's list
and detail pages and their JSON. Forms, uploads and the access lookup are in
registry/web/objections.py and registry/api/objections.py."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy import select

from registry.db.consent import PatientObjection, Purpose
from registry.permissions import Permission
from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, register
from registry.workspace.types.contracts import _org
from registry.workspace.types.gateways import _int_filter, hospital_options


class ObjectionOut(BaseModel):
    id: int
    objection_ref: str
    hospital: dict
    pseudonym: str
    purpose: str
    recorded_on: date
    withdrawn_on: date | None
    withdrawn_reason: str | None
    source: str
    active: bool


def _public(o: PatientObjection, names) -> dict:  # noqa: ANN001
    return ObjectionOut(id=o.id, objection_ref=o.objection_ref, hospital=_org(names, o.hospital_id),
                        pseudonym=o.pseudonym, purpose=o.purpose, recorded_on=o.recorded_on,
                        withdrawn_on=o.withdrawn_on, withdrawn_reason=o.withdrawn_reason, source=o.source,
                        active=o.withdrawn_on is None).model_dump(mode="json")


def _purpose_options(session, scope) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(p.code, p.code) for p in session.scalars(select(Purpose).order_by(Purpose.code))]


def _state_filter(stmt, value: str):  # noqa: ANN001, ANN202
    if value not in ("active", "withdrawn"):
        raise ValueError("active or withdrawn")
    column = PatientObjection.withdrawn_on
    return stmt.where(column.is_(None) if value == "active" else column.is_not(None))


def _fields(o: PatientObjection, names) -> list:  # noqa: ANN001
    return [
        (_l("Hospital"), o.hospital_id, "org"), (_l("Pseudonym"), o.pseudonym, "code"),
        (_l("Purpose"), o.purpose, "text"), (_l("Recorded on"), o.recorded_on, "day"),
        (_l("Last day (withdrawn)"), o.withdrawn_on, "day"), (_l("Reason"), o.withdrawn_reason, "text"),
        (_l("Source"), ("source", o.source), "badge"),
    ]


OBJECTIONS = register(ObjectType(
    key="objections", model=PatientObjection, singular=_l("objection"), plural=_l("Objections"),
    read=Permission.OBJECTIONS_READ, write=Permission.OBJECTIONS_WRITE,
    columns=[
        Column("pseudonym", _l("Pseudonym"), value=lambda o, n: o.pseudonym[:16] + "…", kind="link"),
        Column("hospital_id", _l("Hospital"), kind="org"),
        Column("purpose", _l("Purpose"), sort=PatientObjection.purpose),
        Column("recorded_on", _l("Recorded on"), sort=PatientObjection.recorded_on, kind="day"),
        Column("withdrawn_on", _l("Last day (withdrawn)"), sort=PatientObjection.withdrawn_on, kind="day"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(PatientObjection.hospital_id), options=hospital_options,
               kind="select"),
        Filter("purpose", _l("Purpose"), lambda s, v: s.where(PatientObjection.purpose == v),
               options=_purpose_options, kind="select"),
        Filter("state", _l("Status"), _state_filter,
               options=lambda s, sc: [("active", str(_l("active"))), ("withdrawn", str(_l("withdrawn")))],
               kind="select"),
    ],
    # Only the whole pseudonym finds a patient: no browsing by prefix.
    search=lambda q: PatientObjection.pseudonym == q.lower(),
    default_sort="-recorded_on", title=lambda o: f"{o.purpose} · {o.pseudonym[:12]}…",
    public=ObjectionOut, to_public=_public, fields=_fields, create_endpoint="web.objections_new",
))
