"""The procurement staff API against the demo world: contracts, licences, the pilot's extension
option, allocations (to the cent), onboarding with a preview."""

from __future__ import annotations

from sqlalchemy import select

from registry.db.contracts import FrameworkContract, Licence
from registry.db.organisations import Organisation
from registry.db.users import User
from registry.services import api_tokens
from tests.factories import SYSTEM


def _token(session, clock, email: str) -> dict:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    created = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=user.id, name="test")
    session.commit()
    return {"Authorization": f"Bearer {created.token}"}


def _contract(session, slug: str) -> FrameworkContract:  # noqa: ANN001
    return session.scalar(select(FrameworkContract).where(FrameworkContract.reference == f"AIFI-FW-{slug}"))


def test_allocation_of_the_pilot_quarter_adds_up_to_the_cent_with_explanations(client, session, clock):
    headers = _token(session, clock, "inkoop@demo.aifi.nl")
    fw = _contract(session, "BONEXPERT")
    body = client.get(f"/api/v1/allocations?contract={fw.id}&period=2025-Q3", headers=headers).get_json()
    assert body["total_cents"] == sum(line["amount_cents"] for line in body["lines"]) > 0
    names = [line["hospital"]["name"] for line in body["lines"]]
    holders = set(session.scalars(select(Licence.hospital_id).where(Licence.contract_id == fw.id)))
    assert "Catharina Ziekenhuis" in names and len(names) == len(set(names)) == len(holders)  # one line each
    catharina = next(line for line in body["lines"] if line["hospital"]["ura"] == "90000011")
    assert any("studies × €" in e for e in catharina["explanation"])
    assert any("fixed fee" in e for e in catharina["explanation"])
    # Fictional hospitals without pilot usage share the fee pro rata to studies: nothing.
    noord = next(line for line in body["lines"] if line["hospital"]["ura"] == "99000101")
    assert noord["amount_cents"] == 0
    year = client.get(f"/api/v1/allocations?contract={fw.id}&period=2025", headers=headers).get_json()
    assert year["total_cents"] == sum(line["amount_cents"] for line in year["lines"])
    assert client.get(f"/api/v1/allocations?contract={fw.id}&period=2025-Q5", headers=headers).status_code == 400
    assert client.get("/api/v1/allocations?contract=999999&period=2025", headers=headers).status_code == 404


def test_a_hospital_user_sees_only_its_own_line(client, session, clock):
    headers = _token(session, clock, "privacy@oost.demo.aifi.nl")
    fw = _contract(session, "RBFRACTURE")
    body = client.get(f"/api/v1/allocations?contract={fw.id}&period=2025", headers=headers).get_json()
    assert [line["hospital"]["ura"] for line in body["lines"]] == ["99000103"]


def test_contract_and_licence_through_the_api(client, session, clock):
    headers = _token(session, clock, "inkoop@demo.aifi.nl")
    vendor = session.scalar(select(Organisation).where(Organisation.name == "Visiana"))
    hospital = session.scalar(select(Organisation).where(Organisation.ura == "90000011"))
    tool_id = session.scalar(select(Licence.tool_id).where(Licence.reference.like("AIFI-LIC-BONEXPERT-%")))
    created = client.post("/api/v1/contracts", headers=headers, json={
        "reference": "FW-API-1", "title": "Via the API", "vendor_id": vendor.id, "starts_on": "2027-01-01",
        "ends_on": "2027-12-31", "buyer_ids": [hospital.id], "ceiling_studies": 100, "split_rule": "pro_rata",
        "tools": [{"tool_id": tool_id, "unit_price_cents": 500, "tiers": [{"from_studies": 50, "unit_price_cents": 450}]}],
        "extension_options": [{"months": 6, "notice_days": 60}]})
    assert created.status_code == 201, created.get_json()
    contract = created.get_json()
    assert contract["tools"][0]["tiers"] == [{"from_studies": 50, "unit_price_cents": 450}]
    lic = client.post("/api/v1/licences", headers=headers, json={
        "reference": "LIC-API-1", "contract_id": contract["id"], "hospital_id": hospital.id, "tool_id": tool_id,
        "starts_on": "2027-01-01", "ends_on": "2027-12-31", "quota_limit": 80})
    assert lic.status_code == 201, lic.get_json()
    refused = client.patch(f"/api/v1/licences/{lic.get_json()['id']}", headers=headers, json={"quota_limit": 101})
    assert refused.status_code == 400
    assert "ceiling of 100 studies" in refused.get_json()["error"]["detail"]
    ok = client.patch(f"/api/v1/licences/{lic.get_json()['id']}", headers=headers,
                      json={"ends_on": "2027-06-30", "note": "ends early"})
    assert ok.status_code == 200 and ok.get_json()["ends_on"] == "2027-06-30"
    extended = client.post(f"/api/v1/contracts/{contract['id']}/extensions", headers=headers, json={"note": "go"})
    assert extended.status_code == 201 and extended.get_json()["ends_on"] == "2028-06-30"
    assert extended.get_json()["extensions"][0]["exercised_by"].startswith("user:")
    patched = client.patch(f"/api/v1/contracts/{contract['id']}", headers=headers, json={"vat_bp": 900})
    assert patched.get_json()["vat_bp"] == 900 and patched.get_json()["title"] == "Via the API"
    assert client.patch(f"/api/v1/contracts/{contract['id']}", headers=headers,
                        json={"split_rule": "shares"}).status_code == 400


def test_the_pilots_second_extension_option(client, session, clock):
    headers = _token(session, clock, "inkoop@demo.aifi.nl")
    fw = _contract(session, "CINA-IPE")
    body = client.get(f"/api/v1/contracts/{fw.id}", headers=headers).get_json()
    assert [e["option_index"] for e in body["extensions"]] == [0] and len(body["extension_options"]) == 2
    out = client.post(f"/api/v1/contracts/{fw.id}/extensions", headers=headers, json={}).get_json()
    assert out["ends_on"] == "2027-12-31" and [e["option_index"] for e in out["extensions"]] == [0, 1]
    again = client.post(f"/api/v1/contracts/{fw.id}/extensions", headers=headers, json={})
    assert again.status_code == 400


def test_onboarding_preview_and_the_real_thing(client, session, clock):
    headers = _token(session, clock, "inkoop@demo.aifi.nl")
    fw = _contract(session, "RBFRACTURE")
    body = {"ura": "90000066", "name": "Nieuw Pilotziekenhuis", "calloffs": [{"contract_id": fw.id, "quota_limit": 500}]}
    preview = client.post("/api/v1/hospitals", headers=headers, json={**body, "preview": True})
    assert preview.status_code == 200 and preview.get_json()["preview"] is True
    assert session.scalar(select(Organisation).where(Organisation.ura == "90000066")) is None
    done = client.post("/api/v1/hospitals", headers=headers, json=body)
    assert done.status_code == 201
    assert done.get_json()["licences"] == preview.get_json()["licences"]
    assert client.post("/api/v1/hospitals", headers=headers, json=body).status_code == 400
    off = client.post("/api/v1/hospitals/90000066/offboard", headers=headers, json={"reason": "test"})
    assert off.status_code == 200 and off.get_json()["licences_ended"]
    viewer = _token(session, clock, "lezer@demo.aifi.nl")
    assert client.post("/api/v1/hospitals", headers=viewer, json=body).status_code == 403


def test_a_reference_already_taken_is_a_conflict_named_at_its_field(client, session, clock):
    """A second licence or contract under a taken reference: 409 with the field, nothing stored."""
    from sqlalchemy import func

    headers = _token(session, clock, "inkoop@demo.aifi.nl")
    taken = session.scalar(select(Licence).where(Licence.reference == "AIFI-LIC-BONEXPERT-011-2025"))
    fw = _contract(session, "BONEXPERT")
    before = session.scalar(select(func.count()).select_from(Licence))
    answer = client.post("/api/v1/licences", headers=headers, json={
        "reference": taken.reference, "contract_id": taken.contract_id, "hospital_id": taken.hospital_id,
        "tool_id": taken.tool_id, "starts_on": str(taken.starts_on), "ends_on": str(taken.ends_on),
        "quota_limit": 5})
    assert answer.status_code == 409, answer.get_json()
    assert answer.get_json()["error"]["fields"] == {"reference": "a licence with this reference already exists"}
    assert session.scalar(select(func.count()).select_from(Licence)) == before
    again = client.post("/api/v1/contracts", headers=headers, json={
        "reference": fw.reference, "title": "Again", "vendor_id": fw.vendor_id, "starts_on": "2027-01-01",
        "ends_on": "2027-12-31", "buyer_ids": [taken.hospital_id],
        "tools": [{"tool_id": taken.tool_id, "unit_price_cents": 100}]})
    assert again.status_code == 409 and "reference" in again.get_json()["error"]["fields"]
    assert session.scalar(select(func.count()).select_from(FrameworkContract).where(
        FrameworkContract.reference == fw.reference)) == 1
