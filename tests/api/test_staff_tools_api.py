"""The staff API for tools and versions: create, PATCH only what is named, versions with a
structured intended use, the default version, suspend and reinstate taking effect on the next
decision and in the routing matrix, and 403 without tools:write."""

from __future__ import annotations

from sqlalchemy import select

from registry.db.changes import ChangeRecord
from registry.db.tools import Tool, ToolVersion
from registry.db.users import User
from registry.services import api_tokens
from tests.factories import SYSTEM


def _token(session, clock, email: str) -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id,
                                               name="tools test", scopes=None)
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def _changes(session, table: str, ident: int) -> list[ChangeRecord]:  # noqa: ANN001
    return list(session.scalars(select(ChangeRecord).where(ChangeRecord.object_type == table,
                                                           ChangeRecord.object_id == str(ident))
                                .order_by(ChangeRecord.id)))


def _decide(client, headers, world, key: str) -> dict:  # noqa: ANN001
    body = {"tool": world.tool.slug, "purpose": "clinical-care",
            "study": {"study_key": key, "modality": "DX", "body_part": "HAND",
                      "patient_age_years": 9.5, "patient_sex": "M"}}
    response = client.post("/api/v1/decisions", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _matrix_cell(client, admin, world) -> dict:  # noqa: ANN001
    cells = client.get("/api/v1/matrix?on=2026-06-01", headers=admin).get_json()["cells"]
    [cell] = [c for c in cells if c["hospital"]["ura"] == world.hospital.ura and c["tool"] == world.tool.slug]
    return cell


def test_create_a_tool_and_read_it_back(client, session, clock, world):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    body = {"slug": "lungscan", "name": "LungScan", "vendor_id": world.vendor.id,
            "operator_id": world.operator.id, "description": "Nodules on chest CT"}
    response = client.post("/api/v1/tools", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    assert out["slug"] == "lungscan" and out["vendor"]["name"] == world.vendor.name and out["versions"] == []
    tool = session.scalar(select(Tool).where(Tool.slug == "lungscan"))
    [record] = _changes(session, "tools", tool.id)
    assert record.action == "create" and record.actor.startswith("user:")
    assert client.get("/api/v1/tools/lungscan", headers=admin).get_json()["name"] == "LungScan"
    again = client.post("/api/v1/tools", json=body, headers=admin)
    assert again.status_code == 400 and "slug" in again.get_json()["error"]["fields"]


def test_create_refuses_malformed_input_and_changes_nothing(client, session, clock, world):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    bad = client.post("/api/v1/tools", json={"slug": "Bad Slug", "name": "", "vendor_id": world.hospital.id},
                      headers=admin)
    assert bad.status_code == 400 and {"slug", "name"} <= set(bad.get_json()["error"]["fields"])
    wrong_vendor = client.post("/api/v1/tools", json={"slug": "ok-slug", "name": "X",
                                                      "vendor_id": world.hospital.id}, headers=admin)
    assert wrong_vendor.status_code == 400
    assert wrong_vendor.get_json()["error"]["fields"] == {"vendor_id": "must be an organisation of kind vendor"}
    assert session.scalar(select(Tool).where(Tool.slug == "ok-slug")) is None


def test_patch_changes_only_the_named_fields(client, session, clock, world):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    response = client.patch(f"/api/v1/tools/{world.tool.slug}", json={"description": "Bone age"}, headers=admin)
    assert response.status_code == 200, response.get_json()
    out = response.get_json()
    assert out["description"] == "Bone age" and out["name"] == world.tool.name
    assert out["operator"]["id"] == world.operator.id
    record = _changes(session, "tools", world.tool.id)[-1]
    assert record.action == "update" and record.after["description"] == "Bone age"
    assert record.before["name"] == record.after["name"]
    # Naming operator_id as null removes the operator; the name stays.
    out = client.patch(f"/api/v1/tools/{world.tool.slug}", json={"operator_id": None}, headers=admin).get_json()
    assert out["operator"] is None and out["description"] == "Bone age"
    # The slug and vendor are the tool's identity: not accepted.
    assert client.patch(f"/api/v1/tools/{world.tool.slug}", json={"slug": "x"}, headers=admin).status_code == 400
    assert client.patch(f"/api/v1/tools/{world.tool.slug}", json={"name": None}, headers=admin).status_code == 400


def test_add_and_change_a_version(client, session, clock, world):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    body = {"version": "2.0", "mdr_class": "IIa", "certificate_number": "CE 123",
            "notified_body": "BSI (2797)", "certificate_expires_on": "2028-06-30",
            "intended_use": {"modalities": ["DX", "CR"], "body_parts": ["HAND"],
                             "age_years_by_sex": {"M": {"min": 2.5, "max": 17}, "F": {"min": 2, "max": 15}},
                             "contrast": "forbidden", "requires": ["sex"]}}
    response = client.post(f"/api/v1/tools/{world.tool.slug}/versions", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    assert out["version"] == "2.0" and out["is_default"] is False and out["status"] == "active"
    assert out["intended_use"]["age_years_by_sex"]["M"] == {"min": 2.5, "max": 17}
    tv = session.scalar(select(ToolVersion).where(ToolVersion.tool_id == world.tool.id, ToolVersion.version == "2.0"))
    assert [r.action for r in _changes(session, "tool_versions", tv.id)] == ["create"]

    duplicate = client.post(f"/api/v1/tools/{world.tool.slug}/versions", json=body, headers=admin)
    assert duplicate.status_code == 400 and "version" in duplicate.get_json()["error"]["fields"]
    inverted = dict(body, version="2.1", intended_use={"modalities": ["DX"], "age_years": {"min": 9, "max": 3}})
    wrong = client.post(f"/api/v1/tools/{world.tool.slug}/versions", json=inverted, headers=admin)
    assert wrong.status_code == 400 and "intended_use" in wrong.get_json()["error"]["fields"]
    no_modality = dict(body, version="2.2", intended_use={"modalities": []})
    assert client.post(f"/api/v1/tools/{world.tool.slug}/versions", json=no_modality,
                       headers=admin).status_code == 400

    patch = client.patch(f"/api/v1/tools/{world.tool.slug}/versions/2.0",
                         json={"certificate_expires_on": "2029-01-31"}, headers=admin)
    assert patch.status_code == 200, patch.get_json()
    out = patch.get_json()
    assert out["certificate_expires_on"] == "2029-01-31" and out["certificate_number"] == "CE 123"
    assert out["intended_use"]["contrast"] == "forbidden"  # untouched

    default = client.patch(f"/api/v1/tools/{world.tool.slug}/versions/2.0", json={"is_default": True},
                           headers=admin)
    assert default.status_code == 200 and default.get_json()["is_default"] is True
    session.expire_all()
    assert session.get(ToolVersion, world.version.id).is_default is False
    assert client.patch(f"/api/v1/tools/{world.tool.slug}/versions/9.9", json={"mdr_class": "I"},
                        headers=admin).status_code == 404


def test_suspend_and_reinstate_take_effect_on_the_next_decision_and_in_the_matrix(
        client, session, clock, world, headers):
    admin = _token(session, clock, "admin@demo.aifi.nl")
    assert _decide(client, headers, world, "api-before")["decision"] == "permit"
    assert _matrix_cell(client, admin, world)["decision"] == "permit"
    path = f"/api/v1/tools/{world.tool.slug}/versions/{world.version.version}"

    assert client.post(path + "/suspend", json={"reason": ""}, headers=admin).status_code == 400
    response = client.post(path + "/suspend", json={"reason": "Field safety notice FSN-7"}, headers=admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "suspended"
    assert response.get_json()["status_reason"] == "Field safety notice FSN-7"
    answer = _decide(client, headers, world, "api-during")
    assert answer["decision"] == "deny" and [r["code"] for r in answer["reasons"]] == ["TOOL_SUSPENDED"]
    cell = _matrix_cell(client, admin, world)
    assert cell["decision"] == "deny" and "TOOL_SUSPENDED" in [r["code"] for r in cell["reasons"]]
    assert client.post(path + "/suspend", json={"reason": "again"}, headers=admin).status_code == 409

    response = client.post(path + "/reinstate", json={"reason": "Software update 1.0.1 installed"}, headers=admin)
    assert response.status_code == 200 and response.get_json()["status"] == "active"
    assert _decide(client, headers, world, "api-after")["decision"] == "permit"
    assert _matrix_cell(client, admin, world)["decision"] == "permit"
    actions = [r.action for r in _changes(session, "tool_versions", world.version.id)]
    assert actions[-2:] == ["suspend", "reinstate"]


def test_writes_need_tools_write(client, session, clock, world):
    viewer = _token(session, clock, "lezer@demo.aifi.nl")
    slug, version = world.tool.slug, world.version.version
    calls = [("POST", "/api/v1/tools", {"slug": "x", "name": "X", "vendor_id": world.vendor.id}),
             ("PATCH", f"/api/v1/tools/{slug}", {"name": "Y"}),
             ("POST", f"/api/v1/tools/{slug}/versions", {"version": "9", "intended_use": {"modalities": ["CT"]}}),
             ("PATCH", f"/api/v1/tools/{slug}/versions/{version}", {"mdr_class": "I"}),
             ("POST", f"/api/v1/tools/{slug}/versions/{version}/suspend", {"reason": "x"}),
             ("POST", f"/api/v1/tools/{slug}/versions/{version}/reinstate", {"reason": "x"})]
    for method, path, body in calls:
        assert client.open(path, method=method, json=body, headers=viewer).status_code == 403, path
        assert client.open(path, method=method, json=body).status_code == 401, path
    assert client.get(f"/api/v1/tools/{slug}", headers=viewer).status_code == 200
    session.expire_all()
    assert session.get(ToolVersion, world.version.id).status == "active"


def test_the_openapi_document_describes_the_tool_routes(client):
    doc = client.get("/api/openapi.json").get_json()
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/tools"])
    assert {"get", "patch"} <= set(paths["/api/v1/tools/{key}"])
    suspend = paths["/api/v1/tools/{key}/versions/{version}/suspend"]["post"]
    assert suspend["x-required-permissions"] == ["tools:write"]
    assert suspend["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReasonIn"}
    assert "IntendedUseIn" in doc["components"]["schemas"]
