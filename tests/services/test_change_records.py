"""Every service that changes data writes a ChangeRecord (and its audit entry) in the same
transaction as the change: both are there after the flush, and both vanish on rollback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import date

import pytest
from sqlalchemy import func, select

import registry.services
from registry.db.audit import AuditEntry
from registry.db.changes import ChangeRecord
from tests.factories import SYSTEM, make_world

# Service functions that change data, with a call that exercises each. Read-only helpers and the
# decision path (which writes a Decision + audit entry instead of a change record) are listed
# in NOT_CHANGES with the reason.
NOT_CHANGES = {
    "bundle.build_bundle": "read-only: signs the gateway's offline bundle, writes nothing",
    "changes.record_change": "the mechanism itself, used by all of the above",
    "decisions.decide": "writes a Decision and its audit entry (tested in test_decisions)",
    "decisions.evaluate_at": "writes a Decision of kind evaluate and its audit entry",
    # The audit trail's own use cases (tested in tests/audit): they seal, sign, read or prune
    # audit entries, never business data, so there is no change record to write.
    "audit.seal_entries": "the sequencer: gives pending audit entries their place in the chain",
    "audit.create_checkpoint": "signs a checkpoint of the audit chain's head",
    "audit.verify_audit_trail": "reads the chain (after sealing what is pending)",
    "audit.export_entries": "reads entries; the export itself is logged as an R audit entry",
    "audit.prune_audit_trail": "retention of the audit trail itself; logged as a D audit entry",
    "audit.search_entries": "reads entries; the read is logged as an R audit entry",
    "audit.object_history": "reads entries; the read is logged as an R audit entry",
    # Sessions are not business data: logins and logouts are audit entries (tests/sessions).
    "sessions.end_session": "revokes the caller's own web session; logged as a logout entry",
    # Usage metering (tested in tests/usage): high-volume machine events; the UsageEvent row and
    # one U audit entry per event or expiry record them (see registry.services.usage).
    "usage.report_usage": "writes UsageEvents, moves reservations; an audit entry each",
    "usage.expire_reservations": "moves stale reservations to expired; an audit entry each",
    "attention.needs_attention": "read-only: what the dashboard lists as needing attention",
    "objections.subject_access": "read-only lookup for a data-subject access request; an R audit entry "
                                 "(tested in tests/services/test_objections.py)",
    "incidents.overdue_duties": "read-only: the open items past their date, for the dashboard",
    # The evidence pack (tested in tests/evidence): it seals and signs a checkpoint of the audit
    # trail and logs its own reading as an R audit entry; it changes no business data.
    "evidence.evidence_pack": "read-only: the pack as plain data",
    "evidence.take_evidence_pack": "seals and signs an audit checkpoint, then builds the pack",
    "evidence.log_evidence_read": "the pack handed out: an R audit entry with its SHA-256",
    # What-if previews apply the change in a savepoint that is always rolled back (tests/services/
    # test_whatif.py proves that no row of any table changes).
    "whatif.preview": "read-only: a change applied and rolled back",
    "whatif.preview_agreement_transition": "read-only: a change applied and rolled back",
    "whatif.preview_deployment_suspension": "read-only: a change applied and rolled back",
    "whatif.preview_licence_change": "read-only: a change applied and rolled back",
    "whatif.preview_licence_status": "read-only: a change applied and rolled back",
    "whatif.preview_version_suspension": "read-only: a change applied and rolled back",
    "whatif.recent_decisions": "read-only: the decisions a preview re-evaluates",
    # Radiologists' feedback (tested in tests/monitoring): machine events from gateways, like usage;
    # each assessment is a Feedback row with one C audit entry.
    "feedback.report_feedback": "writes a Feedback row and its audit entry",
}


def _calls(w, clock):
    kw = {"actor": SYSTEM, "clock": clock}
    from registry.services import (agreements, api_tokens, bulk_import, contracts, gateways, hospitals, identity_providers,
                                   objections, organisations, tools, users)

    def user(s):  # noqa: ANN001, ANN202
        return users.create_user(s, **kw, email=f"t{id(s)}@example.org", roles=["viewer"],
                                 password="long enough pw")[0]

    def _register_idp(s):  # noqa: ANN001, ANN202
        return identity_providers.register_identity_provider(
            s, **kw, secret_key="k" * 40, organisation_id=w.hospital.id, issuer="https://idp.example",
            client_id="registry", client_secret="provider secret")
    from registry.services import deployments, incidents, webhooks
    from tests.factories import CLINICAL_OWNER

    def draft(s):  # noqa: ANN001, ANN202
        return deployments.update_checklist(s, **kw, deployment_id=w.deployment.id,
                                            changes={"monitoring_plan": "weekly review"})

    def prepared_by_someone_else(s):  # noqa: ANN001, ANN202
        # A draft someone else filled in (set directly: only the approval is under test here).
        w.deployment.status, w.deployment.prepared_by = "draft", [CLINICAL_OWNER.ref]
        return w.deployment

    def serious(s, action="suspend_deployment"):  # noqa: ANN001, ANN202
        return incidents.report_incident(s, **kw, kind="serious_incident", severity="other",
                                         hospital_id=w.hospital.id, tool_id=w.tool.id,
                                         description="missed finding", occurred_on=date(2026, 5, 1),
                                         aware_on=date(2026, 5, 2), action=action)

    def closed(s):  # noqa: ANN001, ANN202
        incident = serious(s, "none")
        for duty in incidents.duties_of(s, incident):
            incidents.record_duty(s, **kw, duty_id=duty.id, told_whom="the vendor", told_what="the facts",
                                  told_on=date(2026, 5, 3))
        return incidents.close_incident(s, **kw, incident_id=incident.id, conclusion="cause found")

    def subscription(s):  # noqa: ANN001, ANN202
        return webhooks.create_subscription(s, **kw, secret_key="k" * 40, url="https://ops.example/hook",
                                            events=["deployment.suspended"])[0]
    clinical = {
        "deployments.create_deployment": lambda s: deployments.create_deployment(
            s, **kw, hospital_id=w.hospital.id, tool_id=tools.create_tool(
                s, **kw, slug="another", name="Another", vendor_id=w.vendor.id, operator_id=None).id),
        "deployments.update_checklist": draft,
        "deployments.approve_deployment": lambda s: deployments.approve_deployment(
            s, **kw, deployment_id=prepared_by_someone_else(s).id),
        "deployments.suspend_deployment": lambda s: deployments.suspend_deployment(
            s, **kw, deployment_id=w.deployment.id, reason="risk"),
        "deployments.resume_deployment": lambda s: deployments.resume_deployment(
            s, **kw, deployment_id=deployments.suspend_deployment(
                s, **kw, deployment_id=w.deployment.id, reason="risk").id, reason="fixed"),
        "incidents.report_incident": serious,
        "incidents.record_duty": lambda s: incidents.record_duty(
            s, **kw, duty_id=incidents.duties_of(s, serious(s, "none"))[0].id, told_whom="the vendor",
            told_what="the facts", told_on=date(2026, 5, 3)),
        "incidents.close_incident": closed,
        "incidents.record_field_safety_notice": lambda s: incidents.record_field_safety_notice(
            s, **kw, reference="FSN-X", tool_id=w.tool.id, versions=[w.version.version], title="FSN",
            issued_on=date(2026, 5, 1)),
        "webhooks.create_subscription": subscription,
        "webhooks.set_subscription_active": lambda s: webhooks.set_subscription_active(
            s, **kw, subscription_id=subscription(s).id, active=False),
    }
    return clinical | {
        "api_tokens.create_personal_token": lambda s: api_tokens.create_personal_token(
            s, **kw, user_id=user(s).id, name="script"),
        "api_tokens.revoke_personal_token": lambda s: api_tokens.revoke_personal_token(
            s, **kw, token_id=api_tokens.create_personal_token(
                s, **kw, user_id=user(s).id, name="script").row.id),
        "organisations.create_organisation": lambda s: organisations.create_organisation(
            s, **kw, kind="vendor", name="Another Vendor"),
        "organisations.set_organisation_status": lambda s: organisations.set_organisation_status(
            s, **kw, organisation_id=w.hospital.id, status="suspended", reason="audit"),
        "tools.create_tool": lambda s: tools.create_tool(
            s, **kw, slug="another", name="Another", vendor_id=w.vendor.id, operator_id=None),
        "tools.create_tool_version": lambda s: tools.create_tool_version(
            s, **kw, tool_id=w.tool.id, version="2.0", intended_use={"modalities": ["CT"]}),
        "tools.suspend_tool_version": lambda s: tools.suspend_tool_version(
            s, **kw, tool_version_id=w.version.id, reason="risk"),
        "tools.reinstate_tool_version": lambda s: tools.reinstate_tool_version(
            s, **kw, tool_version_id=tools.suspend_tool_version(
                s, **kw, tool_version_id=w.version.id, reason="risk").id, reason="fixed"),
        "tools.update_tool": lambda s: tools.update_tool(
            s, **kw, tool_id=w.tool.id, changes={"name": "Renamed", "description": "new text"}),
        "tools.update_tool_version": lambda s: tools.update_tool_version(
            s, **kw, tool_version_id=w.version.id, changes={"mdr_class": "IIb",
                                                            "intended_use": {"modalities": ["CT"]}}),
        "tools.set_default_version": lambda s: tools.set_default_version(
            s, **kw, tool_version_id=tools.create_tool_version(
                s, **kw, tool_id=w.tool.id, version="3.0", intended_use={"modalities": ["DX"]}).id),
        "contracts.create_contract": lambda s: contracts.create_contract(
            s, **kw, reference="FW-X", title="X", vendor_id=w.vendor.id, starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31), buyer_ids=[], tools=[]),
        "contracts.create_licence": lambda s: contracts.create_licence(
            s, **kw, reference="LIC-X", contract_id=w.contract.id, hospital_id=w.hospital.id,
            tool_id=w.tool.id, starts_on=date(2026, 2, 1), ends_on=date(2026, 3, 1), quota_limit=5),
        "bulk_import.import_licences": lambda s: bulk_import.import_licences(s, **kw, rows=[{
            "reference": "LIC-IMPORT-1", "contract": w.contract.reference, "hospital": w.hospital.ura,
            "tool": w.tool.slug, "starts_on": "2026-02-01", "ends_on": "2026-03-01", "quota_limit": "5",
            "quota_period": "term", "on_quota_exhausted": "deny"}]),
        "contracts.set_licence_status": lambda s: contracts.set_licence_status(
            s, **kw, licence_id=w.licence.id, status="suspended", reason="x"),
        "contracts.amend_contract": lambda s: contracts.amend_contract(
            s, **kw, contract_id=w.contract.id, changes={"title": "Renamed", "ceiling_studies": 10_000}),
        "contracts.exercise_extension": lambda s: contracts.exercise_extension(
            s, **kw, contract_id=contracts.amend_contract(
                s, **kw, contract_id=w.contract.id,
                changes={"extension_options": [{"months": 12, "notice_days": 90}]}).id),
        "contracts.amend_licence": lambda s: contracts.amend_licence(
            s, **kw, licence_id=w.licence.id, changes={"quota_limit": 150}),
        "contracts.end_licence_early": lambda s: contracts.end_licence_early(
            s, **kw, licence_id=w.licence.id, last_day=date(2026, 6, 30), reason="closing the department"),
        "hospitals.onboard_hospital": lambda s: hospitals.onboard_hospital(
            s, **kw, ura="77000099", name="Onboarded", calloffs=[{"contract_id": w.contract.id, "quota_limit": 1}]),
        "hospitals.offboard_hospital": lambda s: hospitals.offboard_hospital(
            s, **kw, ura=w.hospital.ura, reason="leaves"),
        "contracts.set_contract_status": lambda s: contracts.set_contract_status(
            s, **kw, contract_id=w.contract.id, status="suspended", reason="x"),
        "agreements.create_agreement": lambda s: agreements.create_agreement(
            s, **kw, reference="DPA-X", controller_id=w.hospital.id, processor_id=w.vendor.id,
            purposes=["research"], effective_on=None, ends_on=None),
        "agreements.add_subprocessor": lambda s: agreements.add_subprocessor(
            s, **kw, agreement_id=w.agreement.id, name="Hosting BV", approved_on=date(2026, 5, 1),
            approval_reference="controller's letter of 2026-05-01"),
        "agreements.remove_subprocessor": lambda s: agreements.remove_subprocessor(
            s, **kw, agreement_id=w.agreement.id, subprocessor_id=agreements.add_subprocessor(
                s, **kw, agreement_id=w.agreement.id, name="Hosting BV", approved_on=date(2026, 5, 1),
                approval_reference="letter").id, note="replaced"),
        "agreements.transition_agreement": lambda s: agreements.transition_agreement(
            s, **kw, agreement_id=w.agreement.id, to="suspended", note="breach under investigation"),
        "agreements.update_agreement": lambda s: agreements.update_agreement(
            s, **kw, agreement_id=w.agreement.id, changes={"subject": "Bone-age analysis"}),
        "agreements.add_agreement_note": lambda s: agreements.add_agreement_note(
            s, **kw, agreement_id=w.agreement.id, note="Checked the security annex."),
        "agreements.record_deletion": lambda s: (agreements.transition_agreement(
            s, **kw, agreement_id=w.agreement.id, to="terminated", note="end", terminated_on=date(2026, 5, 1),
            deletion_due_on=date(2026, 5, 31)), agreements.record_deletion(
            s, **kw, agreement_id=w.agreement.id, done_on=date(2026, 5, 20), evidence="certificate 7")),
        "agreements.upload_agreement_document": lambda s: agreements.upload_agreement_document(
            s, **kw, agreement_id=w.agreement.id, filename="signed.pdf", content=b"%PDF-1.7 test"),
        "objections.create_purpose": lambda s: objections.create_purpose(
            s, **kw, code="teaching", label_en="Teaching", label_nl="Onderwijs"),
        "objections.record_objection": lambda s: objections.record_objection(
            s, **kw, hospital_id=w.hospital.id, pseudonym="cd" * 32, purposes=["research"],
            recorded_on=date(2026, 1, 1)),
        "objections.withdraw_objection": lambda s: objections.withdraw_objection(
            s, **kw, objection_id=objections.record_objection(
                s, **kw, hospital_id=w.hospital.id, pseudonym="ef" * 32, purposes=["research"],
                recorded_on=date(2026, 1, 1))[0].id, last_day=date(2026, 6, 1)),
        "objections.import_objections": lambda s: objections.import_objections(
            s, **kw, hospital_id=w.hospital.id, fmt="csv", replace=True,
            content=("pseudonym,purpose,recorded_on\n" + "12" * 32 + ",research,\n").encode()),
        "users.create_user": lambda s: users.create_user(
            s, **kw, email="new@example.org", roles=["viewer"], password="long enough pw"),
        "users.update_user": lambda s: users.update_user(
            s, **kw, user_id=user(s).id, changes={"roles": ["auditor"], "name": "Renamed"}),
        "users.set_user_active": lambda s: users.set_user_active(s, **kw, user_id=user(s).id, active=False),
        "users.reset_password": lambda s: users.reset_password(s, **kw, user_id=user(s).id),
        "organisations.update_organisation": lambda s: organisations.update_organisation(
            s, **kw, organisation_id=w.vendor.id, changes={"name": "Renamed Vendor", "kvk": "12345678"}),
        "identity_providers.register_identity_provider": _register_idp,
        "identity_providers.update_identity_provider": lambda s: identity_providers.update_identity_provider(
            s, **kw, secret_key="k" * 40, provider_id=_register_idp(s).id,
            changes={"client_secret": "rotated secret", "active": False}),
        "gateways.register_gateway": lambda s: gateways.register_gateway(
            s, **kw, hospital_id=w.hospital.id, name="second"),
        "gateways.add_credential": lambda s: gateways.add_credential(
            s, **kw, gateway=w.gateway, public_jwk=None),
        "gateways.rotate_credential": lambda s: gateways.rotate_credential(
            s, **kw, client_id=w.gateway.client_id),
        "gateways.set_gateway_status": lambda s: gateways.set_gateway_status(
            s, **kw, client_id=w.gateway.client_id, status="suspended"),
    }


def _changing_services() -> set[str]:
    """Public service functions taking an actor and a clock: the ones that may change data."""
    names = set()
    for info in pkgutil.iter_modules(registry.services.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"registry.services.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            params = inspect.signature(fn).parameters
            if "actor" in params and "clock" in params:
                names.add(f"{info.name}.{name}")
    return names


def test_every_changing_service_is_covered_here(session, clock):
    """A new service that changes data must be added to the table above (or NOT_CHANGES)."""
    world = make_world(session, clock)
    covered = set(_calls(world, clock)) | set(NOT_CHANGES)
    missing = _changing_services() - covered
    assert not missing, f"services without a change-record test: {sorted(missing)}"


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("name", sorted(_calls(None, None)))
def test_service_writes_change_record_in_the_same_transaction(sessions, clock, name):
    session = sessions()
    world = make_world(session, clock)
    session.commit()
    changes, entries = _count(session, ChangeRecord), _count(session, AuditEntry)
    latest = session.scalar(select(func.max(ChangeRecord.id)))

    _calls(world, clock)[name](session)
    session.flush()
    new = list(session.scalars(select(ChangeRecord).where(ChangeRecord.id > latest)))
    assert new, f"{name} wrote no change record"
    assert all(r.actor == SYSTEM.ref and r.object_type and r.object_id for r in new)
    assert all(r.after is not None for r in new if r.action != "delete")
    assert _count(session, AuditEntry) >= entries + len(new)
    secrets = {"secret_hash", "password_hash", "client_secret_sealed"}
    assert not any(secrets & set((r.after or {}) | (r.before or {})) for r in new)

    # Same transaction: undoing the change undoes its record.
    session.rollback()
    assert _count(session, ChangeRecord) == changes
    assert _count(session, AuditEntry) == entries
    session.close()


def test_update_records_before_and_after(session, clock):
    from registry.services import contracts

    world = make_world(session, clock)
    contracts.set_licence_status(session, actor=SYSTEM, clock=clock, licence_id=world.licence.id,
                                 status="suspended", reason="invoice unpaid")
    record = session.scalar(select(ChangeRecord).order_by(ChangeRecord.id.desc()).limit(1))
    assert record.action == "suspended" and record.object_type == "licences"
    assert record.before["status"] == "active" and record.after["status"] == "suspended"
    assert record.message == "invoice unpaid"
