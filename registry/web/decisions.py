"""A decision's explanation page: what was asked, what was relied on, what decided, in words.

The generic detail page (``/decisions/<id>``) includes ``templates/objects/extra/decisions.html``,
which asks :func:`decision_explanation` for the parts that depend on who is looking (the patient's
pseudonym is withheld from those without objections:read or audit:read) or need a lookup."""

from __future__ import annotations

from typing import Any

from flask import g, url_for

from registry.db.decisions import Decision
from registry.services.decisions import decision_detail
from registry.web import blueprint
from registry.web.i18n import _
from registry.web.objects import purpose_label
from registry.workspace.labels import label

WITHHELD = "(withheld)"  # what registry.services.decisions puts in place of the pseudonym


def _terms(d: Decision) -> list[dict[str, Any]]:
    """The terms the decision relied on, each a link to its page."""
    refs, out = d.refs or {}, []
    for key, label, endpoint, text in (
            ("licence", _("Licence"), "web.licences_detail", "reference"),
            ("contract", _("Framework contract"), "web.contracts_detail", "reference"),
            ("agreement", _("Data-processing agreement"), "web.agreements_detail", "reference")):
        ref = refs.get(key)
        if ref:
            out.append({"label": label, "text": ref.get(text) or ref.get("id"),
                        "url": url_for(endpoint, key=ref["id"])})
    version = refs.get("tool_version")
    if version:
        out.append({"label": _("Tool version"), "text": f"{d.tool_slug} {version.get('version')}",
                    "url": url_for("web.tools_detail", key=d.tool_slug) + f"#version-{version.get('version')}"})
    return out


def _study(request: dict[str, Any]) -> list[tuple[str, Any]]:
    study = request.get("study") or {}
    age = study.get("patient_age_years")
    if age is None and study.get("patient_age"):
        age = study["patient_age"]  # as DICOM sent it (AS, e.g. 009Y)
    contrast = study.get("contrast")
    sex = study.get("patient_sex")
    return [(_("Modality"), study.get("modality")), (_("Body part"), study.get("body_part")),
            (_("Age (years)"), age), (_("Sex"), label("sex", sex) if sex else None),
            (_("Contrast agent"), None if contrast is None else (_("given") if contrast else _("not given"))),
            (_("DICOM SOP classes"), ", ".join(study.get("sop_class_uids") or []) or None),
            (_("Study key"), study.get("study_key"))]


@blueprint.app_template_global("decision_explanation")
def decision_explanation(d: Decision) -> dict[str, Any]:
    """Everything the explanation shows beyond the stored row's plain fields."""
    detail = decision_detail(d, actor=g.web_actor)
    request = detail["request"]
    pseudonym = request.get("patient_pseudonym")
    licence = (d.facts or {}).get("licence") or {}
    quota = None
    if licence.get("quota_limited"):
        quota = {"remaining": licence.get("quota_remaining"), "overage": d.overage,
                 "reservation": d.reservation}
    return {
        "terms": _terms(d), "study": _study(request), "rules": detail["rules"],
        "pseudonym": None if not pseudonym else (_("(withheld)") if pseudonym == WITHHELD else pseudonym),
        "purpose": purpose_label(d.purpose),
        "quota": quota, "tool_version_asked": request.get("tool_version"),
    }
