"""Role × endpoint matrix for the bearer-token API (NetBox/Keygen habit).

For every API route that declares permissions with ``requires(...)`` and every role in
``registry.permissions.ROLES``: a staff token of a user holding just that role gets 403 exactly
when the role holds none of the permissions the route declares, and otherwise neither 401 nor
403 (nor a 500). Each call is a GET or a harmless POST with a minimal valid body, inside the
test's rolled-back transaction.

A person never holds a gateway's OAuth scopes (routing:decide, usage:report, bundle:read,
feedback:report): the services refuse any actor but a gateway for them, whatever its role. So a role's effective
permissions here are its listed ones minus those scopes. (Today the admin role lists every
Permission, scopes included, so on /decisions, /bundle and /usage the edge lets an admin past
and the service then refuses.)

The list of routes is read from the app, so a new route without a row here fails the coverage
test instead of being skipped silently.
"""

from __future__ import annotations

import io
import uuid
from typing import Callable

import pytest

from registry.auth.tokens import GATEWAY_SCOPES, issue_gateway_token, issue_user_token
from registry.permissions import ROLE_PERMISSIONS, ROLES
from registry.services import decisions as decision_service
from registry.services.objections import record_objection
from registry.services.users import create_user
from tests.factories import SYSTEM, child_hand, make_world


# What a staff token can actually do: a role's permissions without the gateway scopes.
STAFF_PERMISSIONS = {role: ROLE_PERMISSIONS[role] - set(GATEWAY_SCOPES.values()) for role in ROLES}


class Ctx:
    """What the requests need: a complete world, one stored decision, a live gateway token."""

    def __init__(self, session, clock, app):  # noqa: ANN001
        self.world = make_world(session, clock)
        outcome = decision_service.decide(session, actor=self.world.actor, clock=clock,
                                          engine=app.extensions["registry"].policy,
                                          request=child_hand(self.world.tool.slug, study_key="matrix-1"))
        self.decision_id = outcome.decision.id
        self.gateway_token = issue_gateway_token(session, clock=clock, gateway=self.world.gateway,
                                                 scope="routing:decide", ttl=600).access_token
        self.objection_id = record_objection(session, actor=SYSTEM, clock=clock, hospital_id=self.world.hospital.id,
                                             pseudonym=uuid.uuid4().hex * 2, purposes=["research"])[0].id

        from datetime import date

        from registry.services import incidents

        self.incident = incidents.report_incident(
            session, actor=SYSTEM, clock=clock, kind="serious_incident", hospital_id=self.world.hospital.id,
            tool_id=self.world.tool.id, description="matrix", occurred_on=date(2026, 5, 1),
            aware_on=date(2026, 5, 1))
        self.notice = incidents.record_field_safety_notice(
            session, actor=SYSTEM, clock=clock, reference=f"FSN-{uuid.uuid4().hex[:6]}", tool_id=self.world.tool.id,
            versions=[self.world.version.version], title="matrix", issued_on=date(2026, 5, 1))
        self.user, _ = create_user(session, actor=SYSTEM, clock=clock, roles=["viewer"],
                                   email=f"subject.{uuid.uuid4().hex[:6]}@matrix.test", password="matrix-password-1")
        session.commit()

    def key(self, type_key: str) -> str:
        """A URL key of one object of each described type (for the generic detail routes)."""
        from registry.workspace import OBJECT_TYPES

        if type_key == "objections":
            return str(self.objection_id)
        row = {"organisations": self.world.hospital, "gateways": self.world.gateway, "tools": self.world.tool,
               "contracts": self.world.contract, "licences": self.world.licence,
               "agreements": self.world.agreement, "users": self.user, "deployments": self.world.deployment,
               "incidents": self.incident, "field_safety_notices": self.notice}[type_key]
        return OBJECT_TYPES[type_key].url_key(row)


def _decision_body(ctx: Ctx) -> dict:
    return {"tool": ctx.world.tool.slug, "purpose": "clinical-care",
            "study": {"study_key": f"matrix-{uuid.uuid4().hex[:8]}", "modality": "DX",
                      "body_part": "HAND", "patient_age_years": 9.5, "patient_sex": "M"}}


# endpoint → (method, path, request kwargs); every one a read or a harmless write.
REQUESTS: dict[str, Callable[[Ctx], tuple[str, str, dict]]] = {
    "api.create_checkpoint": lambda c: ("POST", "/api/v1/audit/checkpoints", {}),
    "api.verify": lambda c: ("POST", "/api/v1/audit/verify", {"json": {}}),
    "api.entries": lambda c: ("GET", "/api/v1/audit/entries?limit=5", {}),
    "api.export": lambda c: ("GET", "/api/v1/audit/export?format=jsonl&object_type=decision", {}),
    "api.history": lambda c: ("GET", f"/api/v1/audit/objects/decision/{c.decision_id}", {}),
    "api.evidence_pack_json": lambda c: ("GET", "/api/v1/evidence/90000033/bonexpert.json", {}),
    "api.evidence_pack_pdf": lambda c: ("GET", "/api/v1/evidence/90000033/bonexpert.pdf", {}),
    "api.bundle": lambda c: ("GET", "/api/v1/bundle", {}),
    "api.decide": lambda c: ("POST", "/api/v1/decisions", {"json": _decision_body(c)}),
    "api.evaluate": lambda c: ("POST", "/api/v1/decisions/evaluate",
                               {"json": dict(_decision_body(c), at="2026-06-01",
                                             hospital_ura=c.world.hospital.ura)}),
    "api.show": lambda c: ("GET", f"/api/v1/decisions/{c.decision_id}", {}),
    "api.register": lambda c: ("POST", "/api/v1/gateways",
                               {"json": {"hospital_ura": c.world.hospital.ura, "name": "matrix-gw"}}),
    "api.rotate": lambda c: ("POST", f"/api/v1/gateways/{c.world.gateway.client_id}/rotate", {"json": {}}),
    "api.suspend": lambda c: ("POST", f"/api/v1/gateways/{c.world.gateway.client_id}/suspend",
                              {"json": {"reason": "matrix"}}),
    "api.reactivate": lambda c: ("POST", f"/api/v1/gateways/{c.world.gateway.client_id}/reactivate",
                                 {"json": {}}),
    "api.revoke": lambda c: ("POST", f"/api/v1/gateways/{c.world.gateway.client_id}/revoke", {"json": {}}),
    "api.reconciliation": lambda c: ("GET", f"/api/v1/reconciliation?licence={c.world.licence.id}", {}),
    "api.report": lambda c: ("POST", "/api/v1/usage", {"json": {"events": []}}),
    "oauth.introspect": lambda c: ("POST", "/oauth/introspect", {"data": {"token": c.gateway_token}}),
    "api.matrix": lambda c: ("GET", "/api/v1/matrix?on=2026-06-01", {}),
    "api.organisation_create": lambda c: ("POST", "/api/v1/organisations",
                                          {"json": {"kind": "vendor", "name": f"Matrix {uuid.uuid4().hex[:6]}"}}),
    "api.organisation_update": lambda c: ("PATCH", f"/api/v1/organisations/{c.world.hospital.id}", {"json": {}}),
    "api.organisation_suspend": lambda c: ("POST", f"/api/v1/organisations/{c.world.vendor.id}/suspend",
                                           {"json": {"reason": "matrix"}}),
    "api.organisation_reactivate": lambda c: ("POST", f"/api/v1/organisations/{c.world.vendor.id}/reactivate",
                                              {"json": {"reason": "matrix"}}),
    "api.user_create": lambda c: ("POST", "/api/v1/users",
                                  {"json": {"email": f"new.{uuid.uuid4().hex[:6]}@matrix.test", "roles": ["viewer"]}}),
    "api.user_update": lambda c: ("PATCH", f"/api/v1/users/{c.user.id}", {"json": {"name": "Matrix"}}),
    "api.user_reset_password": lambda c: ("POST", f"/api/v1/users/{c.user.id}/reset-password", {}),

    "api.tool_create": lambda c: ("POST", "/api/v1/tools",
                                  {"json": {"slug": f"matrix-{uuid.uuid4().hex[:8]}", "name": "Matrix tool",
                                            "vendor_id": c.world.vendor.id}}),
    "api.tool_update": lambda c: ("PATCH", f"/api/v1/tools/{c.world.tool.slug}",
                                  {"json": {"description": "matrix"}}),
    "api.tool_version_create": lambda c: ("POST", f"/api/v1/tools/{c.world.tool.slug}/versions",
                                          {"json": {"version": "9.0", "intended_use": {"modalities": ["CT"]}}}),
    "api.tool_version_update": lambda c: ("PATCH", f"/api/v1/tools/{c.world.tool.slug}/versions/1.0",
                                          {"json": {"notified_body": "matrix"}}),
    "api.tool_version_suspend": lambda c: ("POST", f"/api/v1/tools/{c.world.tool.slug}/versions/1.0/suspend",
                                           {"json": {"reason": "matrix"}}),
    "api.tool_version_reinstate": lambda c: ("POST",
                                             f"/api/v1/tools/{c.world.tool.slug}/versions/1.0/reinstate",
                                             {"json": {"reason": "matrix"}}),

    # The procurement workspace: contracts, licences, extension options, allocation, on/offboarding.
    "api.contracts_create": lambda c: ("POST", "/api/v1/contracts", {"json": {
        "reference": f"FW-M-{uuid.uuid4().hex[:8]}", "title": "Matrix", "vendor_id": c.world.vendor.id,
        "starts_on": "2026-01-01", "ends_on": "2026-12-31"}}),
    "api.contracts_amend": lambda c: ("PATCH", f"/api/v1/contracts/{c.world.contract.id}",
                                      {"json": {"title": "Matrix amended"}}),
    "api.contracts_extend": lambda c: ("POST", f"/api/v1/contracts/{c.world.contract.id}/extensions",
                                       {"json": {}}),
    "api.licences_create": lambda c: ("POST", "/api/v1/licences", {"json": {
        "reference": f"LIC-M-{uuid.uuid4().hex[:8]}", "contract_id": c.world.contract.id,
        "hospital_id": c.world.hospital.id, "tool_id": c.world.tool.id, "starts_on": "2026-02-01",
        "ends_on": "2026-03-31", "quota_limit": 5}}),
    "api.licences_import": lambda c: ("POST", "/api/v1/licences/import", {
        "data": "reference,contract,hospital,tool,starts_on,ends_on,quota_limit,quota_period,on_quota_exhausted\n"
                f"LIC-I-{uuid.uuid4().hex[:8]},{c.world.contract.reference},{c.world.hospital.ura},"
                f"{c.world.tool.slug},2026-02-01,2026-03-31,5,term,deny\n", "content_type": "text/csv"}),
    "api.licences_amend": lambda c: ("PATCH", f"/api/v1/licences/{c.world.licence.id}",
                                     {"json": {"quota_limit": 120}}),
    "api.allocations": lambda c: ("GET", f"/api/v1/allocations?contract={c.world.contract.id}&period=2026-Q3", {}),
    "api.hospitals_onboard": lambda c: ("POST", "/api/v1/hospitals", {"json": {
        "ura": "77000001", "name": "Matrix Ziekenhuis", "preview": True,
        "calloffs": [{"contract_id": c.world.contract.id, "quota_limit": 10}]}}),
    "api.hospitals_offboard": lambda c: ("POST", f"/api/v1/hospitals/{c.world.hospital.ura}/offboard",
                                         {"json": {"reason": "matrix", "preview": True}}),
    "api.search": lambda c: ("GET", "/api/v1/search?q=Radboud", {}),
    # The legal workspace: agreements (a draft born, terms, lifecycle, journal, sub-processors).
    "api.agreement_create": lambda c: ("POST", "/api/v1/agreements", {"json": {
        "reference": f"DPA-M-{uuid.uuid4().hex[:6]}", "controller_id": c.world.hospital.id,
        "processor_id": c.world.operator.id, "purposes": ["clinical-care"]}}),
    "api.agreement_update": lambda c: ("PATCH", f"/api/v1/agreements/{c.world.agreement.id}",
                                       {"json": {"subject": "matrix"}}),
    "api.agreement_transition": lambda c: ("POST", f"/api/v1/agreements/{c.world.agreement.id}/transitions",
                                           {"json": {"to": "suspended", "note": "matrix"}}),
    "api.agreement_note": lambda c: ("POST", f"/api/v1/agreements/{c.world.agreement.id}/notes",
                                     {"json": {"note": "matrix"}}),
    "api.agreement_subprocessor_add": lambda c: (
        "POST", f"/api/v1/agreements/{c.world.agreement.id}/subprocessors/{c.world.operator.id}",
        {"json": {"approved_on": "2026-05-01", "approval_reference": "matrix letter"}}),
    "api.agreement_subprocessor_remove": lambda c: (
        "DELETE", f"/api/v1/agreements/{c.world.agreement.id}/subprocessors/{c.world.vendor.id}", {}),
    "api.agreement_document": lambda c: ("GET", f"/api/v1/agreements/{c.world.agreement.id}/document.pdf", {}),
    "api.agreement_document_upload": lambda c: (
        "POST", f"/api/v1/agreements/{c.world.agreement.id}/documents",
        {"data": {"file": (io.BytesIO(b"%PDF-1.7 matrix"), "signed.pdf")}, "content_type": "multipart/form-data"}),
    "api.agreement_document_download": lambda c: ("GET", f"/api/v1/agreements/{c.world.agreement.id}/documents/1", {}),
    # Patients' objections.
    "api.objection_create": lambda c: ("POST", "/api/v1/objections", {"json": {
        "hospital_id": c.world.hospital.id, "pseudonym": uuid.uuid4().hex * 2, "purposes": ["research"]}}),
    "api.objection_withdraw": lambda c: ("POST", f"/api/v1/objections/{c.objection_id}/withdraw", {}),
    "api.objection_import": lambda c: ("POST", f"/api/v1/objections/import?hospital_id={c.world.hospital.id}", {
        "data": f"pseudonym,purpose,recorded_on\n{uuid.uuid4().hex * 2},research,\n",
        "content_type": "text/csv"}),
    "api.objection_export": lambda c: ("GET", "/api/v1/objections/export?format=fhir", {}),
    "api.objection_access": lambda c: ("GET", f"/api/v1/objections/access?pseudonym={'ab' * 32}", {}),

    # Clinical governance: each a harmless write (a reason-less suspend, an empty patch, …).
    "api.deployment_create_api": lambda c: ("POST", "/api/v1/deployments",
                                            {"json": {"hospital_ura": c.world.hospital.ura, "tool": "nonexistent"}}),
    "api.deployment_update_api": lambda c: ("PATCH", f"/api/v1/deployments/{c.world.deployment.id}", {"json": {}}),
    "api.deployment_approve_api": lambda c: ("POST", f"/api/v1/deployments/{c.world.deployment.id}/approve",
                                             {"json": {}}),
    "api.deployment_suspend_api": lambda c: ("POST", f"/api/v1/deployments/{c.world.deployment.id}/suspend",
                                             {"json": {}}),
    "api.deployment_resume_api": lambda c: ("POST", f"/api/v1/deployments/{c.world.deployment.id}/resume",
                                            {"json": {"reason": "matrix"}}),
    "api.incident_create_api": lambda c: ("POST", "/api/v1/incidents", {"json": {
        "kind": "risk", "tool": "nonexistent", "description": "x", "occurred_on": "2026-06-01",
        "aware_on": "2026-06-01"}}),
    "api.incident_duty_api": lambda c: ("POST", f"/api/v1/incidents/{c.incident.reference}/duties/none",
                                        {"json": {"told_whom": "x", "told_what": "y", "told_on": "2026-06-01"}}),
    "api.incident_close_api": lambda c: ("POST", f"/api/v1/incidents/{c.incident.reference}/close",
                                         {"json": {"conclusion": "matrix"}}),
    "api.field_safety_notice_create_api": lambda c: ("POST", "/api/v1/field_safety_notices", {"json": {
        "reference": "FSN-M", "tool": "nonexistent", "versions": ["1.0"], "title": "x", "issued_on": "2026-06-01"}}),
    "api.webhooks_list_api": lambda c: ("GET", "/api/v1/webhooks", {}),
    "api.webhook_create_api": lambda c: ("POST", "/api/v1/webhooks",
                                         {"json": {"url": "http://ops.example/x", "events": ["deployment.suspended"]}}),
    # Pooled monitoring: the gateway's feedback report (no person holds it) and the figures.
    "api.feedback": lambda c: ("POST", "/api/v1/feedback", {"json": {
        "decision_id": c.decision_id, "assessor": "matrix-r1", "assessment": "agree"}}),
    "api.monitoring": lambda c: ("GET", "/api/v1/monitoring?format=csv", {}),
}


def _generic_routes() -> None:
    """The staff API's generic list and detail routes, one pair per described object type."""
    from registry.workspace import OBJECT_TYPES, load_all

    load_all()
    for key in OBJECT_TYPES:
        REQUESTS[f"api.{key}_list"] = lambda c, key=key: ("GET", f"/api/v1/{key}?per_page=2", {})
        if key != "decisions":  # GET /api/v1/decisions/<id> is the gateway API's api.show
            REQUESTS[f"api.{key}_detail"] = lambda c, key=key: ("GET", f"/api/v1/{key}/{c.key(key)}", {})


_generic_routes()


def _declared(app) -> dict[str, tuple]:  # noqa: ANN001
    out = {}
    for rule in app.url_map.iter_rules():
        perms = getattr(app.view_functions[rule.endpoint], "required_permissions", ())
        if perms and rule.rule.startswith(("/api/", "/oauth/")):
            out[rule.endpoint] = perms
    return out


def test_the_matrix_covers_every_api_route_that_declares_permissions(app):
    declared = _declared(app)
    assert len(declared) >= 15
    assert sorted(set(declared) - set(REQUESTS)) == [], "add a request for these routes"
    assert sorted(set(REQUESTS) - set(declared)) == [], "these routes are gone or no longer declare"


def test_every_role_is_allowed_somewhere_and_refused_somewhere(app):
    """The matrix must be able to fail both ways: each role sees both answers."""
    declared = _declared(app)
    for role in ROLES:
        allowed = [e for e, perms in declared.items() if set(perms) & STAFF_PERMISSIONS[role]]
        assert allowed, role
        # Even admin is refused the gateway-only routes (decide, bundle, usage report).
        assert len(allowed) < len(declared), role


@pytest.mark.parametrize("endpoint", sorted(REQUESTS))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(app, client, session, clock, role, endpoint):
    declared = app.view_functions[endpoint].required_permissions
    ctx = Ctx(session, clock, app)
    user, _ = create_user(session, actor=SYSTEM, clock=clock, email=f"{role}.{uuid.uuid4().hex[:6]}@matrix.test",
                          roles=[role], password="matrix-password-1")
    token = issue_user_token(session, clock=clock, user=user, ttl=600).access_token
    session.commit()
    method, path, kwargs = REQUESTS[endpoint](ctx)
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    holds_one = bool(set(declared) & STAFF_PERMISSIONS[role])
    body = response.get_json(silent=True)
    if holds_one:
        assert response.status_code not in (401, 403), (role, endpoint, response.status_code, body)
        assert response.status_code < 500, (role, endpoint, response.status_code)
    else:
        assert response.status_code == 403, (role, endpoint, response.status_code, body)
        assert body == {"error": {"code": "FORBIDDEN", "detail": body["error"]["detail"]}}
