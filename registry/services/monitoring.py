"""Pooled monitoring: discrepancy rates per tool version × hospital and per subgroup, with flags.

The counting happens in the database (one GROUP BY per comparison, plain CASE sums that mean the
same on SQLite and PostgreSQL); the Wilson intervals and the flag rule are registry.domain.monitoring.
Each comparison is made within one tool version: its hospitals against each other, and within each
subgroup dimension (age band, sex, modality) its values against each other.

Who sees what (registry.scope, applied to the figures rather than to rows):

- national staff see every tool version, every hospital by name and every subgroup;
- a vendor's or platform operator's staff see the tool versions of their own tools, with the
  hospitals by name — as they see the decisions on their tools — and the subgroups: the provider's
  post-market monitoring (AI Act Art. 72) is what the figures are for;
- a hospital's staff (and its gateway) see their own hospital's rows, each beside the pooled rate of
  the *other* hospitals without their names, and the consortium-wide subgroup rows of the versions
  their hospital gives feedback on. Pooled figures are shown to a hospital only when at least
  :data:`MIN_HOSPITALS_POOLED` hospitals contributed to them: with one other hospital, "the others"
  would be that hospital's own figure. The flag itself is always shown.

The comparisons are computed over the whole consortium whoever asks, so a hospital's flag means
the same on every screen. Nothing here names a patient, a study or a radiologist.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.db.feedback import Feedback
from registry.db.organisations import Organisation
from registry.db.tools import Tool, ToolVersion
from registry.domain.monitoring import (AGE_BAND_CODES, DIMENSIONS, DISAGREE, NOT_ASSESSED, Counts,
                                       Finding, compare)
from registry.permissions import Permission
from registry.scope import scope_of
from registry.workspace.base import _csv_safe

# A hospital sees pooled figures only when they pool at least this many hospitals (itself and two
# others), so that "the other hospitals" never is one identifiable hospital.
MIN_HOSPITALS_POOLED = 3

_DISAGREE = func.sum(case((Feedback.assessment == DISAGREE, 1), else_=0))
_ASSESSED = func.sum(case((Feedback.assessment != NOT_ASSESSED, 1), else_=0))
_NOT_ASSESSED = func.sum(case((Feedback.assessment == NOT_ASSESSED, 1), else_=0))
_COLUMNS = {"hospital": Feedback.hospital_id, "age_band": Feedback.age_band, "sex": Feedback.sex,
            "modality": Feedback.modality}
# The order rows are listed in within a dimension (unknown last).
_VALUE_ORDER = {"age_band": {code: i for i, code in enumerate(AGE_BAND_CODES)},
                "sex": {"F": 0, "M": 1, "O": 2}}


@dataclass
class Figures:
    """What one actor may see of the monitoring, as plain data for the page and the exports."""

    scope: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    hospitals: list[dict[str, Any]] = field(default_factory=list)
    subgroups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [r for r in self.hospitals + self.subgroups if r["flagged"]]


def _counts(session: Session, group: str, where: list[Any]) -> dict[tuple[str, int | None], list[Counts]]:
    """(tool slug, tool version id) → the counts per value of ``group``, from one GROUP BY."""
    column = _COLUMNS[group]
    rows = session.execute(
        select(Feedback.tool_slug, Feedback.tool_version_id, column, _DISAGREE, _ASSESSED, _NOT_ASSESSED)
        .where(*where).group_by(Feedback.tool_slug, Feedback.tool_version_id, column))
    out: dict[tuple[str, int | None], list[Counts]] = {}
    for slug, version_id, value, k, n, na in rows:
        out.setdefault((slug, version_id), []).append(Counts(value, int(k or 0), int(n or 0), int(na or 0)))
    return out


def _version_order(key: tuple[str, int | None]) -> tuple[str, bool, int]:
    return key[0], key[1] is None, key[1] or 0


def _figure(f: Finding, *, pooled_visible: bool = True) -> dict[str, Any]:
    return {"assessed": f.assessed, "disagree": f.disagree, "not_assessed": f.not_assessed,
            "rate": f.rate,
            "interval": None if f.interval is None else {"low": f.interval.low, "high": f.interval.high},
            "others_rate": f.others_rate if pooled_visible else None,
            "others_withheld": not pooled_visible, "flagged": f.flagged}


def monitoring_figures(session: Session, *, actor: Actor) -> Figures:
    """The discrepancy figures ``actor`` may see (module docstring: who sees what)."""
    actor.require(Permission.MONITORING_READ)
    scope = scope_of(session, actor)
    where: list[Any] = []
    if scope.kind not in ("national", "hospital"):
        # A supplier: only its own tools are counted at all (the comparisons stay within a version).
        where.append(Feedback.tool_slug.in_(select(Tool.slug).where(
            or_(Tool.vendor_id == scope.organisation_id, Tool.operator_id == scope.organisation_id))))
    by_hospital = _counts(session, "hospital", where)
    own = scope.organisation_id if scope.kind == "hospital" else None

    def visible(key: tuple[str, int | None]) -> tuple[bool, bool]:
        """(the version is shown at all, its pooled figures are shown)."""
        hospitals = {c.key for c in by_hospital.get(key, [])}
        if own is None:
            return True, True
        return own in hospitals, own in hospitals and len(hospitals) >= MIN_HOSPITALS_POOLED

    keys = sorted(by_hospital, key=_version_order)
    names = _names(session, keys, {c.key for groups in by_hospital.values() for c in groups})
    figures = Figures(scope=scope.kind)
    for key in keys:
        shown, pooled = visible(key)
        if not shown:
            continue
        about = names["version"](key)
        groups = by_hospital[key]
        k, n = sum(c.disagree for c in groups), sum(c.assessed for c in groups)
        total = compare([Counts("all", k, n, sum(c.not_assessed for c in groups))])[0]
        figures.versions.append({**about, "hospitals": len(groups) if pooled else None,
                                 **_figure(total), "pooled_withheld": not pooled})
        if not pooled:
            figures.versions[-1].update(assessed=None, disagree=None, not_assessed=None, rate=None,
                                        interval=None)
        for finding in sorted(compare(groups), key=lambda f: names["hospital"](f.key)["name"]):
            if own is not None and finding.key != own:
                continue  # other hospitals are only ever part of "the others"
            figures.hospitals.append({**about, "hospital": names["hospital"](finding.key),
                                      **_figure(finding, pooled_visible=pooled)})
    for dimension in DIMENSIONS:
        for key, groups in sorted(_counts(session, dimension, where).items(), key=lambda i: _version_order(i[0])):
            shown, pooled = visible(key)
            if not (shown and pooled):
                continue
            order = _VALUE_ORDER.get(dimension, {})
            for finding in sorted(compare(groups), key=lambda f: (f.key is None, order.get(f.key, 99),
                                                                  f.key or "")):
                figures.subgroups.append({**names["version"](key), "dimension": dimension,
                                          "value": finding.key, **_figure(finding)})
    return figures


def _names(session: Session, keys: list[tuple[str, int | None]], hospital_ids: set[int]) -> dict[str, Any]:
    """Lookups for the names beside the ids: tool name and version, hospital name and URA."""
    tools = dict(session.execute(select(Tool.slug, Tool.name).where(Tool.slug.in_({s for s, _ in keys}))).all())
    versions = dict(session.execute(select(ToolVersion.id, ToolVersion.version).where(
        ToolVersion.id.in_({v for _, v in keys if v is not None}))).all())
    hospitals = {i: {"name": name, "ura": ura} for i, name, ura in session.execute(
        select(Organisation.id, Organisation.name, Organisation.ura).where(Organisation.id.in_(hospital_ids)))}
    return {"version": lambda key: {"tool": {"slug": key[0], "name": tools.get(key[0], key[0])},
                                    "version": versions.get(key[1])},
            "hospital": lambda i: hospitals.get(i, {"name": str(i), "ura": None})}


# -- the export for the provider ------------------------------------------------------------------

EXPORT_COLUMNS = ("tool", "version", "group_type", "group", "assessed", "disagree", "not_assessed",
                  "rate", "interval_low", "interval_high", "others_rate", "flagged")


def export_rows(figures: Figures) -> list[dict[str, Any]]:
    """One flat row per hospital and subgroup figure: counts and rates only. The figures hold no
    pseudonym, study key, decision id or assessor to begin with; this is their only shape outside."""
    rows = []
    for r in figures.hospitals:
        rows.append(_flat(r, "hospital", r["hospital"]["name"]))
    for r in figures.subgroups:
        rows.append(_flat(r, r["dimension"], r["value"] if r["value"] is not None else "unknown"))
    return rows


def _flat(r: dict[str, Any], group_type: str, group: str) -> dict[str, Any]:
    interval = r["interval"] or {}
    return {"tool": r["tool"]["slug"], "version": r["version"], "group_type": group_type, "group": group,
            "assessed": r["assessed"], "disagree": r["disagree"], "not_assessed": r["not_assessed"],
            "rate": r["rate"], "interval_low": interval.get("low"), "interval_high": interval.get("high"),
            "others_rate": r["others_rate"], "flagged": r["flagged"]}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else _csv_safe(str(value))  # a hospital's name is typed by people


def render_export(figures: Figures, fmt: str) -> tuple[str, str]:
    """The export as (body, media type): ``csv`` (rates to four decimals) or ``json``."""
    rows = export_rows(figures)
    if fmt == "json":
        return json.dumps({"columns": list(EXPORT_COLUMNS), "rows": rows}, indent=1), "application/json"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue(), "text/csv; charset=utf-8"
