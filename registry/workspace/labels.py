"""Enumerations and reason codes in words, in the user's language (through the catalogue).

A page never shows a bare status, kind, role or reason code: it shows these words, with the code
beside it where people need to quote it (a reason code in a ticket to the vendor).
"""

from __future__ import annotations

from typing import Any

from registry.web.i18n import _l

ENUMS: dict[str, dict[str, Any]] = {
    "status": {
        "active": _l("active"), "suspended": _l("suspended"), "offboarded": _l("offboarded"),
        "revoked": _l("revoked"), "withdrawn": _l("withdrawn"), "terminated": _l("terminated"),
        "draft": _l("draft"), "in_review": _l("in review"), "approved": _l("approved"),
        "signed": _l("signed"), "disabled": _l("disabled"), "open": _l("open"), "closed": _l("closed"),
        "pending": _l("pending"), "delivered": _l("delivered"), "failed": _l("failed"),
    },
    "kind": {
        "hospital": _l("hospital"), "vendor": _l("vendor"),
        "platform_operator": _l("platform operator"), "consortium": _l("consortium"),
    },
    "role": {
        "admin": _l("administrator"), "auditor": _l("auditor"), "legal": _l("legal reviewer"),
        "privacy_officer": _l("privacy officer"), "procurement": _l("procurement officer"),
        "viewer": _l("viewer"), "clinical_owner": _l("clinical owner"),
    },
    "outcome": {"permit": _l("permitted"), "deny": _l("denied"), "not_contracted": _l("not contracted"),
                "success": _l("success"), "denied": _l("denied"), "failure": _l("failure")},
    "quota_period": {"term": _l("whole term"), "year": _l("per year"), "month": _l("per month")},
    "on_quota_exhausted": {"deny": _l("deny further studies"), "overage": _l("bill as overage")},
    "method": {"private_key_jwt": _l("signed key (private_key_jwt)"),
               "client_secret_basic": _l("client secret")},
    "decision_kind": {"decide": _l("gateway request"), "evaluate": _l("evaluation by staff")},
    # DICOM PatientSex (0010,0040) as a study sends it.
    "sex": {"M": _l("male"), "F": _l("female"), "O": _l("other")},
    # A version's intended use: whether the study must (not) be contrast-enhanced.
    "contrast": {"required": _l("required"), "forbidden": _l("not allowed"), "either": _l("with or without")},
    "mdr_class": {"I": _l("class I"), "IIa": _l("class IIa"), "IIb": _l("class IIb"), "III": _l("class III")},
    "action": {"create": _l("created"), "update": _l("changed"), "delete": _l("deleted"),
               "suspend": _l("suspended"), "reinstate": _l("reinstated"), "reactivate": _l("reactivated"),
               "revoke": _l("revoked"), "rotate": _l("credential rotated"), "offboard": _l("offboarded"),
               "sign": _l("signed"), "transition": _l("status changed"), "disable": _l("disabled"),
               "enable": _l("enabled"), "reset_password": _l("password reset"),
               "token_create": _l("API token created"), "token_revoke": _l("API token revoked"),
               # The agreement's lifecycle (registry.domain.agreements.TRANSITIONS) in its history.
               "submit_for_review": _l("submitted for review"), "return_to_draft": _l("returned to draft"),
               "approve": _l("approved"), "terminate": _l("terminated"), "remove": _l("removed"),
               "deletion_recorded": _l("deletion or return recorded"), "withdraw": _l("withdrawn"),
               "extend": _l("extended"), "end_early": _l("ended early"), "terminated": _l("terminated"),
               "suspended": _l("suspended"), "terminate_start": _l("termination started"),
                "resume": _l("resumed"), "record": _l("recorded"), "close": _l("closed")},
    # Where an objection came from.
    "source": {"ui": _l("registered by hand"), "api": _l("staff API"), "csv": _l("CSV upload"),
               "fhir": _l("FHIR upload"), "demo": _l("demo")},
    # The same transitions as buttons.
    "agreement_action": {"submit_for_review": _l("Submit for review"), "return_to_draft": _l("Return to draft"),
                         "approve": _l("Approve"), "sign": _l("Record the signatures"), "suspend": _l("Suspend"),
                         "reinstate": _l("Reinstate"), "terminate": _l("Terminate")},
    # The parties to an agreement, as a signature is matched to them (registry.domain.agreements).
    "party": {"controller": _l("controller (hospital)"), "processor": _l("processor")},
    # Why a signature in an uploaded agreement does not count (registry.pades).
    "signature_problem": {"altered": _l("the document was altered after signing"),
                          "untrusted": _l("the certificate is not from a trusted certification authority"),
                          "certificate": _l("the certificate was not valid for signing"),
                          "signing_time": _l("the signing time is missing or impossible"),
                          "unsupported": _l("a signature the registry cannot check")},
    # What a signed agreement amounts to on a day (derived from its dates, never stored).
    "standing": {"in_force": _l("in force"), "not_yet_in_force": _l("not yet in force"),
                 "expired": _l("expired"), "draft": _l("draft"), "in_review": _l("in review"),
                 "approved": _l("approved"), "suspended": _l("suspended"), "terminated": _l("terminated")},
    # The elements GDPR Art. 28(3) requires in an agreement (registry.domain.agreements.ART28_ELEMENTS).
    "art28": {"subject_duration": _l("subject-matter and duration"),
              "nature_purpose": _l("nature and purpose of the processing"),
              "data_types": _l("type of personal data"), "data_subjects": _l("categories of data subjects"),
              "instructions": _l("only on documented instructions"), "confidentiality": _l("confidentiality"),
              "security": _l("security measures (Art. 32)"),
              "subprocessors": _l("sub-processors only with authorisation"),
              "data_subject_rights": _l("assistance with data subjects' rights"),
              "assistance_breach": _l("assistance with Arts. 32–36 and breach notification (hours)"),
              "deletion_return": _l("deletion or return at the end"), "audits": _l("audits and inspections")},
    "split_rule": {"equal": _l("equal shares"), "fixed": _l("fixed percentages"),
                   "pro_rata": _l("in proportion to completed studies")},
    "checklist": {"licence": _l("a call-off licence in force"), "agreement": _l("a signed data-processing agreement"),
                  "gateway": _l("a registered gateway"), "clinical_deployment": _l("a clinical deployment")},
    "owner": {"procurement": _l("procurement"), "legal": _l("legal"), "admin": _l("administrator"),
              "clinical governance": _l("clinical governance")},
    "action_code": {"C": _l("create"), "R": _l("read"), "U": _l("update"), "D": _l("delete"),
                    "E": _l("execute")},
    "event_type": {"decision": _l("routing decision"), "evaluation": _l("evaluation"),
                   "change": _l("change"), "usage": _l("usage report"), "export": _l("export"),
                   "decision-replay": _l("repeated request"), "checkpoint": _l("checkpoint"),
                   "verify": _l("verification"), "prune": _l("retention clean-up"),
                   "subject-access": _l("data-subject access lookup"),
                   # The access log (registry/audit/access.py).
                   "read": _l("data viewed"), "login": _l("login"), "logout": _l("logout"),
                   "token": _l("token issued"), "client-auth": _l("client authentication"),
                   "refused": _l("access refused"),
                   "feedback": _l("radiologist's feedback")},
    "object_type": {
        "organisations": _l("organisation"), "gateways": _l("gateway"), "tools": _l("tool"),
        "tool_versions": _l("tool version"), "framework_contracts": _l("framework contract"),
        "licences": _l("licence"), "data_processing_agreements": _l("data-processing agreement"),
        "agreement_subprocessors": _l("sub-processor"), "agreement_notes": _l("journal note"), "users": _l("user"),
        "agreement_documents": _l("signed copy"), "agreement_signatures": _l("signature"),
        "user": _l("user"),
        "decision": _l("decision"), "decisions": _l("decision"), "tool": _l("tool"),
        "study": _l("study"), "patient": _l("patient"), "patient_objections": _l("objection"),
        "access_tokens": _l("API token"), "gateway_credentials": _l("gateway credential"),
        "contract_tools": _l("contract tool"), "contract_buyers": _l("contract buyer"),
        "usage_events": _l("usage report"), "signing_keys": _l("signing key"),
        "audit_checkpoints": _l("audit checkpoint"), "contract_extensions": _l("extension option exercised"),
        "deployments": _l("deployment"), "incidents": _l("incident"), "incident_duties": _l("incident duty"),
        "field_safety_notices": _l("field-safety notice"), "webhook_subscriptions": _l("webhook subscription"),
        "feedback": _l("radiologist's feedback"),
    },
    # Pooled monitoring (registry.domain.monitoring).
    "assessment": {"agree": _l("agrees"), "disagree": _l("disagrees"), "not-assessed": _l("not assessed")},
    "feedback_category": {"false-positive": _l("false positive"), "false-negative": _l("false negative"),
                          "measurement": _l("measurement off"), "localisation": _l("wrong location"),
                          "image-quality": _l("image quality"), "other": _l("other")},
    "monitoring_dimension": {"hospital": _l("hospital"), "age_band": _l("age"), "sex": _l("sex"),
                             "modality": _l("modality")},
    "age_band": {"0-4": _l("0–4 years"), "5-9": _l("5–9 years"), "10-14": _l("10–14 years"),
                 "15-17": _l("15–17 years"), "18-44": _l("18–44 years"), "45-64": _l("45–64 years"),
                 "65+": _l("65 years and older")},
    "modality": {"CR": _l("CR (computed radiography)"), "DX": _l("DX (digital radiography)")},
    "deployment_status": {"draft": _l("draft (not live)"), "approved": _l("approved for clinical use"),
                          "suspended": _l("suspended")},
    "incident_kind": {"malfunction": _l("malfunction"), "risk": _l("risk"),
                      "serious_incident": _l("serious incident")},
    "severity": {"public_health_threat": _l("serious public-health threat (2 days)"),
                 "death_or_serious_deterioration": _l("death or serious deterioration (10 days)"),
                 "other": _l("other serious incident (15 days)")},
    "incident_status": {"open": _l("open"), "closed": _l("closed")},
    "incident_action": {"none": _l("no suspension"), "suspend_deployment": _l("suspend the deployment"),
                        "suspend_version": _l("suspend the version for every hospital")},
    "duty": {"provider_informed": _l("provider informed"),
             "vigilance_report": _l("vigilance report (MDR Art. 87)"),
             "authority_informed": _l("market-surveillance authority informed")},
    "checklist": {"versions": _l("versions covered"), "ifu": _l("instructions for use on file"),
                  "overseers": _l("human overseers with training dates"), "dpia": _l("DPIA"),
                  "works_council": _l("works council informed"), "acceptance_test": _l("local acceptance test"),
                  "monitoring_plan": _l("monitoring plan"), "art27": _l("Art. 27 recorded"),
                  "art49": _l("Art. 49 recorded")},
    # The checks an audit entry of a routing decision records (registry.services.decisions).
    "audit_check": {"authorisation": _l("authorisation"), "consent": _l("consent")},
    "consent": {"objection": _l("the patient objected"), "no-objection": _l("no objection")},
}
# The enumeration of each audit check's outcome.
CHECK_VALUES = {"authorisation": "outcome", "consent": "consent"}

# The sentence for each reason code (the decision API's detail adds the specifics, in English).
REASONS: dict[str, Any] = {
    "GATEWAY_INACTIVE": _l("The hospital's gateway is suspended or revoked."),
    "HOSPITAL_INACTIVE": _l("The hospital is suspended or has left the infrastructure."),
    "TOOL_UNKNOWN": _l("The registry does not know this tool or version."),
    "TOOL_SUSPENDED": _l("This tool version is suspended."),
    "TOOL_CERTIFICATE_EXPIRED": _l("The tool version's CE certificate has expired or is not recorded."),
    "PURPOSE_UNKNOWN": _l("The purpose is not a known purpose."),
    "OUTSIDE_INTENDED_USE": _l("The study is outside the tool's intended use."),
    "NO_LICENCE": _l("The hospital has no call-off licence for this tool."),
    "LICENCE_NOT_IN_FORCE": _l("The licence is not in force on this date."),
    "CONTRACT_NOT_IN_FORCE": _l("The framework contract is not in force on this date."),
    "QUOTA_EXHAUSTED": _l("The licence's quota for this period is used up."),
    "NO_AGREEMENT": _l("There is no data-processing agreement with the processor."),
    "AGREEMENT_NOT_SIGNED": _l("The data-processing agreement is not signed."),
    "AGREEMENT_NOT_IN_FORCE": _l("The data-processing agreement is not in force on this date."),
    "PURPOSE_NOT_COVERED": _l("The data-processing agreement does not cover this purpose."),
    "SUBPROCESSOR_NOT_APPROVED": _l("A processor in the chain is not an approved sub-processor."),
    "DEPLOYMENT_NOT_APPROVED": _l("The hospital has not approved this tool version for clinical use "
                                  "(no deployment, incomplete, not approved or suspended)."),
    "PATIENT_OBJECTION": _l("The patient has objected to this use."),
    "POLICY_ERROR": _l("The policies could not be evaluated; denied to be safe."),
}


def label(enum: str, value: Any) -> str:
    """The word for ``value`` of ``enum``; an unknown value shows itself (and a test notices)."""
    if value is None or value == "":
        return "—"
    found = ENUMS.get(enum, {}).get(str(value))
    return str(found) if found is not None else str(value)


def reason_sentence(code: str) -> str:
    found = REASONS.get(code)
    return str(found) if found is not None else code


# The words for the fields a change record lists as changed (the history's "changed fields"):
# the object type's own column labels come first, these cover the rest.
FIELD_LABELS: dict[str, Any] = {
    "name": _l("Name"),
    "status": _l("Status"),
    "status_reason": _l("Reason"),
    "status_since": _l("Status since"),
    "reference": _l("Reference"),
    "title": _l("Title"),
    "starts_on": _l("Starts on"),
    "ends_on": _l("Ends on"),
    "signed_on": _l("Signed on"),
    "effective_on": _l("Effective from"),
    "terminated_on": _l("Terminated on"),
    "purposes": _l("Purposes"),
    "quota_limit": _l("Quota"),
    "quota_period": _l("Quota period"),
    "on_quota_exhausted": _l("At quota exhaustion"),
    "roles": _l("Roles"),
    "active": _l("Active"),
    "organisation_id": _l("Organisation"),
    "locale": _l("Language"),
    "email": _l("E-mail"),
    "approved_by": _l("Approved by"),
    "approved_at": _l("Approved at"),
    "approved_terms_hash": _l("Approved terms (SHA-256)"),
    "terms_changed_by": _l("Terms last changed by"),
    "terms_changed_at": _l("Terms last changed at"),
    "deletion_due_on": _l("Data to be deleted or returned by"),
    "deletion_done_on": _l("Deletion or return recorded on"),
    "deletion_evidence": _l("Evidence of deletion or return"),
    "security_certificate": _l("Security certificate"),
    "security_certificate_expires_on": _l("Certificate valid until"),
    "extension_options": _l("Extension options"),
    "ceiling_studies": _l("Ceiling (studies)"),
    "ceiling_cents": _l("Ceiling (cents)"),
    "split_rule": _l("Split of shared amounts"),
    "split_shares": _l("Shares"),
    "vat_bp": _l("VAT (basis points)"),
    "indexation_bp": _l("Indexation (basis points)"),
    "indexation_on": _l("Indexation date"),
    "versions": _l("Versions"),
    "overseers": _l("Human overseers"),
    "dpia_reference": _l("DPIA reference"),
    "dpia_date": _l("DPIA date"),
    "works_council_informed_on": _l("Works council informed on"),
    "monitoring_plan": _l("Monitoring plan"),
    "description": _l("Description"),
    "severity": _l("Severity"),
    "withdrawn_on": _l("Withdrawn on"),
    "withdrawn_reason": _l("Reason for withdrawal"),
    "suspended_at": _l("Suspended at"),
    "revoked_at": _l("Revoked at"),
    "summary": _l("Summary"),
    "country": _l("Country"),
}


def field_label(key: str, columns: dict[str, Any] | None = None) -> str:
    """The word for a model field: the object type's column label, a known field's, or the key
    as words (a field nobody named yet still reads as words, never as a column name)."""
    found = (columns or {}).get(key) or FIELD_LABELS.get(key)
    return str(found) if found is not None else key.replace("_", " ")
