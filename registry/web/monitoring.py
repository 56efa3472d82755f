"""The monitoring page: pooled discrepancy rates per tool version × hospital and per subgroup, with
their Wilson intervals, charts and flags, and the export for the provider. Figures and the scope
rule live in registry.services.monitoring; this module calls it and renders."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, render_template
from flask_babel import format_decimal

from registry.edge import db
from registry.permissions import Permission
from registry.reports.svg import interval_chart
from registry.services.monitoring import monitoring_figures, render_export
from registry.web import blueprint
from registry.web.i18n import _
from registry.web.views import login_required
from registry.workspace.labels import label


@blueprint.app_template_filter("percent")
def _percent(value: float | None) -> str:
    """A rate as a percentage with one decimal, in the user's language (10,5 % in Dutch)."""
    return "—" if value is None else f"{format_decimal(value * 100, format='0.0')} %"


def group_label(row: dict[str, Any]) -> str:
    """A row's group in words: the hospital's name, or "age 10–14 years", "sex: female", …"""
    if "hospital" in row:
        return row["hospital"]["name"]
    value = _("unknown") if row["value"] is None else label(row["dimension"], row["value"])
    return f"{label('monitoring_dimension', row['dimension'])}: {value}"


def _chart(rows: list[dict[str, Any]], title: str) -> Any:
    flagged = _("flagged")
    return interval_chart([(group_label(r) + (f" ({flagged})" if r["flagged"] else ""), r["rate"],
                            (r["interval"] or {}).get("low"), (r["interval"] or {}).get("high"),
                            r["others_rate"], r["flagged"]) for r in rows], title=title)


@blueprint.get("/monitoring")
@login_required(Permission.MONITORING_READ)
def monitoring():
    figures = monitoring_figures(db(), actor=g.web_actor)
    sections = []
    for version in figures.versions:
        same = (version["tool"]["slug"], version["version"])
        hospitals = [r for r in figures.hospitals if (r["tool"]["slug"], r["version"]) == same]
        subgroups = [r for r in figures.subgroups if (r["tool"]["slug"], r["version"]) == same]
        name = f"{version['tool']['name']} {version['version'] or ''}".strip()
        sections.append({
            "version": version, "name": name, "hospitals": hospitals, "subgroups": subgroups,
            "hospital_chart": _chart(hospitals, _("Discrepancy rate per hospital, %(tool)s", tool=name))
            if hospitals else None,
            "subgroup_chart": _chart(subgroups, _("Discrepancy rate per subgroup, %(tool)s", tool=name))
            if subgroups else None})
    return render_template("monitoring/index.html", figures=figures, sections=sections, group_label=group_label)


@blueprint.get("/monitoring/export.<fmt>")
@login_required(Permission.MONITORING_READ)
def monitoring_export(fmt: str):
    if fmt not in ("csv", "json"):
        abort(404)
    body, media = render_export(monitoring_figures(db(), actor=g.web_actor), fmt)
    return Response(body, content_type=media,
                    headers={"Content-Disposition": f"attachment; filename=monitoring.{fmt}",
                             "Cache-Control": "no-store"})
