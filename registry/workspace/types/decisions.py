"""Routing decisions: search by hospital, tool, purpose, outcome, reason and date; each one's
explanation (the terms it relied on, the rules that decided, every reason in words)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, cast, select

from registry.db.consent import Purpose
from registry.db.decisions import Decision
from registry.db.tools import Tool
from registry.permissions import Permission
from flask_babel import get_locale

from registry.web.i18n import _l
from registry.workspace.base import Column, Filter, ObjectType, register
from registry.workspace.labels import ENUMS, REASONS
from registry.workspace.types.gateways import _int_filter, hospital_options


class DecisionOut(BaseModel):
    decision_id: str
    kind: str
    decision: str
    dry_run: bool
    decided_at: datetime
    evaluated_on: date
    hospital: dict[str, Any]
    tool: str
    purpose: str
    reasons: list[dict[str, Any]]
    refs: dict[str, Any]
    policy_version: str


def _day_filter(op: str):  # noqa: ANN202
    def apply(stmt, value: str):  # noqa: ANN001, ANN202
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError("a date as YYYY-MM-DD") from None
        return stmt.where(Decision.evaluated_on >= day if op == ">=" else Decision.evaluated_on <= day)
    return apply


def _reason_filter(stmt, value: str):  # noqa: ANN001, ANN202
    if value not in REASONS:
        raise ValueError("choose a reason from the list")
    # The code is one of a fixed list, so a text match on the stored JSON is exact enough.
    return stmt.where(cast(Decision.reasons, String).contains(f'"{value}"'))


def _public(d: Decision, names) -> dict[str, Any]:  # noqa: ANN001
    org = names.orgs.get(d.hospital_id)
    return DecisionOut(decision_id=d.id, kind=d.kind, decision=d.outcome, dry_run=d.dry_run,
                       decided_at=d.decided_at, evaluated_on=d.evaluated_on,
                       hospital={"ura": org.ura, "name": org.name}, tool=d.tool_slug, purpose=d.purpose,
                       reasons=d.reasons, refs=d.refs, policy_version=d.policy_version).model_dump(mode="json")


def _tool_name(d: Decision, names) -> str:  # noqa: ANN001
    for tool in names.tools.values():
        if tool.slug == d.tool_slug:
            return tool.name
    return d.tool_slug


DECISIONS = register(ObjectType(
    key="decisions", model=Decision, singular=_l("decision"), plural=_l("Decisions"),
    read=Permission.DECISIONS_READ, write=None,
    columns=[
        Column("decided_at", _l("When"), sort=Decision.decided_at, kind="moment"),
        Column("hospital_id", _l("Hospital"), kind="org"),
        Column("tool", _l("Tool"), value=_tool_name),
        Column("purpose", _l("Purpose"), sort=Decision.purpose, kind="purpose"),
        Column("outcome", _l("Outcome"), sort=Decision.outcome, kind="badge"),
        Column("reasons", _l("Reasons"), value=lambda d, n: [r["code"] for r in d.reasons], kind="reasons"),
        Column("id", _l("Decision"), kind="link"),
    ],
    filters=[
        Filter("hospital", _l("Hospital"), _int_filter(Decision.hospital_id), options=hospital_options,
               kind="select"),
        Filter("tool", _l("Tool"), lambda s, v: s.where(Decision.tool_slug == v), kind="select",
               options=lambda session, scope: [(t.slug, t.name) for t in session.scalars(
                   select(Tool).order_by(Tool.name))]),
        Filter("purpose", _l("Purpose"), lambda s, v: s.where(Decision.purpose == v), kind="select",
               options=lambda session, scope: [(p.code, p.label_nl if str(get_locale()) == "nl" else p.label_en)
                                               for p in session.scalars(select(Purpose).order_by(Purpose.code))]),
        Filter("outcome", _l("Outcome"), lambda s, v: s.where(Decision.outcome == v), kind="select",
               options=lambda session, scope: [(k, str(ENUMS["outcome"][k])) for k in ("permit", "deny")]),
        Filter("reason", _l("Reason"), _reason_filter, kind="select",
               options=lambda session, scope: [(code, str(text)) for code, text in REASONS.items()]),
        Filter("from", _l("From"), _day_filter(">="), kind="date"),
        Filter("to", _l("Up to and including"), _day_filter("<="), kind="date"),
    ],
    search=lambda q: Decision.id == q.lower(),
    default_sort="-decided_at", title=lambda d: d.id, url_key=lambda d: d.id,
    lookup=lambda key: Decision.id == key.lower(),
    public=DecisionOut, to_public=_public,
    history_refs=lambda d: [],
))
