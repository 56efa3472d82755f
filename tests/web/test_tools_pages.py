"""Tool and version pages: the versions section (intended use in words, certificate warnings in
words, status with reason), every form's happy path with its change record, validation errors next
to their fields with the summary, suspend/reinstate through the UI taking effect on the next
decision and in the routing matrix, and 403 without tools:write."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from registry.db.changes import ChangeRecord
from registry.db.tools import Tool, ToolVersion
from registry.services import tools as tool_service
from tests.factories import SYSTEM
from tests.web.helpers import csrf_token, login


def _post(client, path: str, data: dict, lang: str = "en"):  # noqa: ANN001, ANN202
    page = client.get(f"{path}?lang={lang}")
    assert page.status_code == 200, (path, page.status_code)
    return client.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data})


def _records(session, table: str, ident: int) -> list[ChangeRecord]:  # noqa: ANN001
    return list(session.scalars(select(ChangeRecord).where(ChangeRecord.object_type == table,
                                                           ChangeRecord.object_id == str(ident))
                                .order_by(ChangeRecord.id)))


def _field_error(html: str, field_id: str) -> str:
    """The error message shown next to a field (the GOV.UK error-message paragraph)."""
    match = re.search(rf'<p class="error-message" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field_id}"
    return re.sub(r'<span class="visually-hidden">.*?</span>|<[^>]+>', "", match.group(1)).strip()


def _version(session, tool_id: int, version: str) -> ToolVersion:  # noqa: ANN001
    session.expire_all()
    return session.scalar(select(ToolVersion).where(ToolVersion.tool_id == tool_id, ToolVersion.version == version))


VERSION_FORM = {"version": "2.0", "released_on": "2026-05-01", "mdr_class": "IIa",
                "certificate_number": "CE 7781", "notified_body": "BSI (2797)",
                "certificate_expires_on": "2028-12-31", "modalities": ["DX", "CR"], "body_parts": "hand, wrist",
                "age_rule": "by_sex", "male_min": "2.5", "male_max": "17", "female_min": "2", "female_max": "15",
                "contrast": "forbidden", "requires": ["sex"], "sop_class_uids": "", "notes": ""}


def test_the_tool_page_shows_each_version_in_words(client, session):
    login(client, "lezer@demo.aifi.nl")
    html = client.get("/tools/rbfracture?lang=en").get_data(as_text=True)
    assert 'id="versions"' in html
    assert "Modality: CR or DX" in html and "Age: 18 years and older" in html
    assert "IIa" in html and "CE-RBFRACTURE-0000 (illustrative)" in html
    # The old version is suspended, with its reason and the day since.
    old = re.search(r'<article class="panel version" id="version-([^"]+)">((?:(?!</article>).)*suspended(?:(?!</article>).)*)</article>',
                    html, re.S)
    assert old and "Reason:" in old.group(2) and "since" in old.group(2)
    assert ">default<" in html
    # A viewer sees no buttons that change anything.
    assert "Edit tool" not in html and "Suspend" not in html


def test_certificate_warnings_are_in_words(client, session, clock, world):
    tool_service.create_tool_version(session, actor=SYSTEM, clock=clock, tool_id=world.tool.id, version="0.9",
                                     intended_use={"modalities": ["DX"]}, certificate_expires_on=date(2026, 5, 1))
    tool_service.create_tool_version(session, actor=SYSTEM, clock=clock, tool_id=world.tool.id, version="1.1",
                                     intended_use={"modalities": ["DX"]}, certificate_expires_on=date(2026, 7, 1))
    tool_service.create_tool_version(session, actor=SYSTEM, clock=clock, tool_id=world.tool.id, version="1.2",
                                     intended_use={"modalities": ["DX"]})
    session.commit()
    login(client, "lezer@demo.aifi.nl")
    html = client.get(f"/tools/{world.tool.slug}?lang=en").get_data(as_text=True)
    assert "Warning: expired on May 1, 2026." in html
    assert "Warning: expires in 30 days." in html
    assert "Warning: no certificate expiry recorded." in html
    assert html.count("Decisions for this version are denied.") == 2
    nl = client.get(f"/tools/{world.tool.slug}?lang=nl").get_data(as_text=True)
    assert "Let op: verlopen op 1 mei 2026." in nl


def test_create_a_tool(client, session, world):
    login(client, "inkoop@demo.aifi.nl")
    response = _post(client, "/tools/new", {"slug": "chestscan", "name": "ChestScan", "vendor_id": world.vendor.id,
                                            "operator_id": world.operator.id, "description": "Chest X-ray triage"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/tools/chestscan")
    tool = session.scalar(select(Tool).where(Tool.slug == "chestscan"))
    assert tool.name == "ChestScan" and tool.operator_id == world.operator.id
    [record] = _records(session, "tools", tool.id)
    assert record.action == "create" and record.actor.startswith("user:")
    assert "The tool ChestScan is created." in client.get("/tools/chestscan?lang=en").get_data(as_text=True)


def test_the_tool_form_shows_errors_next_to_fields_and_keeps_values(client, session, world):
    login(client, "inkoop@demo.aifi.nl")
    response = _post(client, "/tools/new", {"slug": "Not A Slug", "name": "Kept name", "vendor_id": world.vendor.id,
                                            "operator_id": 0})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="error-summary" role="alert"' in html and 'href="#slug"' in html
    assert "lower-case letters" in _field_error(html, "slug")
    assert "Use lower-case letters" in html
    assert 'value="Kept name"' in html and 'value="Not A Slug"' in html
    taken = _post(client, "/tools/new", {"slug": "bonexpert", "name": "X", "vendor_id": world.vendor.id,
                                         "operator_id": 0})
    assert taken.status_code == 400 and "Another tool" in _field_error(taken.get_data(as_text=True), "slug")
    empty = _post(client, "/tools/new", {"slug": "", "name": "", "vendor_id": world.vendor.id, "operator_id": 0})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400 and _field_error(html, "slug") and _field_error(html, "name")
    assert session.scalar(select(Tool).where(Tool.name == "Kept name")) is None


def test_edit_a_tool(client, session, world):
    login(client, "admin@demo.aifi.nl")
    old_name = world.tool.name
    form = client.get(f"/tools/{world.tool.slug}/edit?lang=en").get_data(as_text=True)
    assert f'value="{old_name}"' in form  # starts from what is stored
    response = _post(client, f"/tools/{world.tool.slug}/edit", {"name": "Renamed tool", "description": "Now with text",
                                                               "operator_id": 0})
    assert response.status_code == 302
    session.expire_all()
    tool = session.get(Tool, world.tool.id)
    assert (tool.name, tool.description, tool.operator_id, tool.slug) == (
        "Renamed tool", "Now with text", None, world.tool.slug)
    record = _records(session, "tools", tool.id)[-1]
    assert record.action == "update" and record.before["name"] == old_name
    bad = _post(client, f"/tools/{world.tool.slug}/edit", {"name": "", "operator_id": 0})
    assert bad.status_code == 400 and _field_error(bad.get_data(as_text=True), "name")


def test_add_a_version_with_a_structured_intended_use(client, session, world):
    login(client, "inkoop@demo.aifi.nl")
    page = client.get(f"/tools/{world.tool.slug}/versions/new?lang=en").get_data(as_text=True)
    assert "textarea" in page and 'name="intended_use"' not in page  # fields, never raw JSON
    response = _post(client, f"/tools/{world.tool.slug}/versions/new", VERSION_FORM)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    tv = _version(session, world.tool.id, "2.0")
    assert tv.intended_use == {"modalities": ["DX", "CR"], "body_parts": ["HAND", "WRIST"],
                               "age_years_by_sex": {"M": {"min": 2.5, "max": 17}, "F": {"min": 2, "max": 15}},
                               "contrast": "forbidden", "requires": ["sex"]}
    assert (tv.mdr_class, tv.certificate_number, tv.notified_body) == ("IIa", "CE 7781", "BSI (2797)")
    assert tv.certificate_expires_on == date(2028, 12, 31) and tv.is_default is False
    assert [r.action for r in _records(session, "tool_versions", tv.id)] == ["create"]
    html = client.get(f"/tools/{world.tool.slug}?lang=en").get_data(as_text=True)
    assert "Age for boys/men: 2.5 to 17 years" in html and "Without contrast agent only" in html


def test_the_version_form_shows_errors_next_to_fields(client, session, world):
    login(client, "inkoop@demo.aifi.nl")
    data = dict(VERSION_FORM, modalities=[], age_rule="overall", age_min="40", age_max="18", male_min="",
                certificate_expires_on="not a date", body_parts="hand; 'x'")
    response = _post(client, f"/tools/{world.tool.slug}/versions/new", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="error-summary" role="alert"' in html
    assert _field_error(html, "certificate_expires_on")
    assert 'value="hand; &#39;x&#39;"' in html or "value=\"hand; 'x'\"" in html  # kept
    # The structured checks run once the simple fields are right.
    data = dict(VERSION_FORM, modalities=[], age_rule="overall", age_min="40", age_max="18")
    html = _post(client, f"/tools/{world.tool.slug}/versions/new", data).get_data(as_text=True)
    assert _field_error(html, "modalities") == "Choose at least one modality."
    assert _field_error(html, "age_min") == "The minimum age is above the maximum age."
    assert 'href="#modalities"' in html and 'href="#age_min"' in html
    data = dict(VERSION_FORM, female_min="", female_max="")
    html = _post(client, f"/tools/{world.tool.slug}/versions/new", data).get_data(as_text=True)
    assert "Fill in a minimum age" in _field_error(html, "female_min")
    duplicate = _post(client, f"/tools/{world.tool.slug}/versions/new", dict(VERSION_FORM, version="1.0"))
    assert duplicate.status_code == 400 and "already has this version" in _field_error(duplicate.get_data(as_text=True), "version")
    assert _version(session, world.tool.id, "2.0") is None


def test_edit_a_version_starting_from_its_intended_use(client, session, world):
    login(client, "admin@demo.aifi.nl")
    path = f"/tools/{world.tool.slug}/versions/1.0/edit"
    page = client.get(path + "?lang=en").get_data(as_text=True)
    # BoneXpert's use (tests.factories) comes back as form fields: by sex, boys up to 19.
    assert re.search(r'id="male_max"[^>]*value="19"|value="19"[^>]*id="male_max"', page)
    assert re.search(r'<input[^>]*checked[^>]*value="by_sex"|<input[^>]*value="by_sex"[^>]*checked', page)
    data = {k: v for k, v in VERSION_FORM.items() if k not in ("version", "is_default")}
    data.update(age_rule="overall", age_min="", age_max="19", contrast="either", requires=[],
                certificate_number="CE 9", mdr_class="IIb")
    response = _post(client, path, data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    tv = _version(session, world.tool.id, "1.0")
    assert tv.intended_use == {"modalities": ["DX", "CR"], "body_parts": ["HAND", "WRIST"], "age_years": {"max": 19}}
    assert tv.mdr_class == "IIb" and tv.is_default is True and tv.status == "active"
    record = _records(session, "tool_versions", tv.id)[-1]
    assert record.action == "update" and record.before["mdr_class"] is None and record.after["mdr_class"] == "IIb"


def test_make_a_version_the_default(client, session, clock, world):
    tool_service.create_tool_version(session, actor=SYSTEM, clock=clock, tool_id=world.tool.id, version="2.0",
                                     intended_use={"modalities": ["DX"]}, certificate_expires_on=date(2030, 1, 1))
    session.commit()
    login(client, "inkoop@demo.aifi.nl")
    page = client.get(f"/tools/{world.tool.slug}?lang=en").get_data(as_text=True)
    response = client.post(f"/tools/{world.tool.slug}/versions/2.0/default", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert _version(session, world.tool.id, "2.0").is_default is True
    assert _version(session, world.tool.id, "1.0").is_default is False
    new = _version(session, world.tool.id, "2.0")
    assert _records(session, "tool_versions", new.id)[-1].message == "made the default version"
    # Without the CSRF token nothing changes.
    assert client.post(f"/tools/{world.tool.slug}/versions/1.0/default", data={}).status_code == 400


def _decide(client, headers, world, key: str) -> dict:  # noqa: ANN001
    body = {"tool": world.tool.slug, "purpose": "clinical-care",
            "study": {"study_key": key, "modality": "DX", "body_part": "HAND", "patient_age_years": 9.5,
                      "patient_sex": "M"}}
    return client.post("/api/v1/decisions", json=body, headers=headers).get_json()


def _matrix_state(client, world) -> str:  # noqa: ANN001
    html = client.get("/?on=2026-06-01&lang=en").get_data(as_text=True)
    match = re.search(rf'data-hospital="{world.hospital.ura}" data-tool="{world.tool.slug}" data-state="(\w+)"', html)
    assert match, "the world's cell is not in the matrix"
    return match.group(1)


def test_suspend_and_reinstate_in_the_ui_take_effect_on_the_next_decision(client, session, world, headers):
    login(client, "inkoop@demo.aifi.nl")
    assert _decide(client, headers, world, "ui-1")["decision"] == "permit"
    assert _matrix_state(client, world) == "permit"
    path = f"/tools/{world.tool.slug}/versions/1.0"

    missing = _post(client, path + "/suspend", {"reason": ""})
    assert missing.status_code == 400 and _field_error(missing.get_data(as_text=True), "reason")
    response = _post(client, path + "/suspend", {"reason": "Field safety notice FSN-2026-14"})
    assert response.status_code == 302
    answer = _decide(client, headers, world, "ui-2")
    assert answer["decision"] == "deny" and [r["code"] for r in answer["reasons"]] == ["TOOL_SUSPENDED"]
    assert _matrix_state(client, world) == "deny"
    page = client.get(f"/tools/{world.tool.slug}?lang=en").get_data(as_text=True)
    assert "Field safety notice FSN-2026-14" in page and "Reinstate" in page
    again = _post(client, path + "/suspend", {"reason": "twice"})
    assert again.status_code == 400 and "already suspended" in _field_error(again.get_data(as_text=True), "reason")

    response = _post(client, path + "/reinstate", {"reason": "Update 1.0.1 fixes the fault"})
    assert response.status_code == 302
    assert _decide(client, headers, world, "ui-3")["decision"] == "permit"
    assert _matrix_state(client, world) == "permit"
    records = _records(session, "tool_versions", world.version.id)
    assert [(r.action, r.message) for r in records[-2:]] == [
        ("suspend", "Field safety notice FSN-2026-14"), ("reinstate", "Update 1.0.1 fixes the fault")]


def test_every_tool_form_needs_tools_write(client, session, world):
    login(client, "lezer@demo.aifi.nl")
    slug = world.tool.slug
    pages = ["/tools/new", f"/tools/{slug}/edit", f"/tools/{slug}/versions/new", f"/tools/{slug}/versions/1.0/edit",
             f"/tools/{slug}/versions/1.0/suspend", f"/tools/{slug}/versions/1.0/reinstate"]
    for path in pages:
        assert client.get(path + "?lang=en").status_code == 403, path
        assert client.post(path, data={"reason": "x", "name": "x"}).status_code in (400, 403), path
    assert client.post(f"/tools/{slug}/versions/1.0/default", data={}).status_code in (400, 403)
    listing = client.get("/tools?lang=en").get_data(as_text=True)
    assert "New tool" not in listing
    session.expire_all()
    assert session.get(ToolVersion, world.version.id).status == "active"


def test_a_hospitals_staff_cannot_change_a_tool(client, session, clock, world):
    """tools:write is national (or the tool's own vendor): a hospital's user is refused by the service."""
    from registry.db.organisations import Organisation
    from registry.services.users import create_user

    oost = session.scalar(select(Organisation).where(Organisation.name == "Demo Ziekenhuis Oost"))
    create_user(session, actor=SYSTEM, clock=clock, email="inkoop@oost.test", roles=["procurement"],
                organisation_id=oost.id, password="long enough pw")
    session.commit()
    login(client, "inkoop@oost.test", "long enough pw")
    response = _post(client, f"/tools/{world.tool.slug}/versions/1.0/suspend", {"reason": "not mine"})
    assert response.status_code == 403
    session.expire_all()
    assert session.get(ToolVersion, world.version.id).status == "active"


def test_the_tools_list_offers_new_tool_and_the_page_its_actions_to_tools_write(client, world):
    login(client, "inkoop@demo.aifi.nl")
    assert 'href="/tools/new"' in client.get("/tools?lang=en").get_data(as_text=True)
    html = client.get(f"/tools/{world.tool.slug}?lang=en").get_data(as_text=True)
    for href in (f"/tools/{world.tool.slug}/edit", f"/tools/{world.tool.slug}/versions/new",
                 f"/tools/{world.tool.slug}/versions/1.0/edit", f"/tools/{world.tool.slug}/versions/1.0/suspend"):
        assert f'href="{href}"' in html, href
