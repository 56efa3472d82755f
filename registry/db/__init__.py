"""Database layer: SQLModel tables by aggregate. Importing this package registers all tables."""

from registry.db.agreements import AgreementDocument, AgreementDocumentContent, AgreementNote, DataProcessingAgreement, SubProcessor
from registry.db.audit import AuditCheckpoint, AuditEntry
from registry.db.base import metadata
from registry.db.changes import ChangeRecord
from registry.db.clinical import Deployment, FieldSafetyNotice, Incident, IncidentDuty
from registry.db.consent import PatientObjection, Purpose
from registry.db.contracts import ContractBuyer, ContractTool, FrameworkContract, Licence, QuotaCounter
from registry.db.decisions import Decision, UsageEvent, UsageMonthly
from registry.db.feedback import Feedback
from registry.db.identity import IdentityLink, IdentityProvider
from registry.db.oauth import AccessToken, AssertionJti, SigningKey
from registry.db.organisations import Gateway, GatewayCredential, Organisation
from registry.db.sessions import LoginFailure, UserSession
from registry.db.terms import TermsRevision
from registry.db.tools import Tool, ToolVersion
from registry.db.users import User
from registry.db.webhooks import WebhookDelivery, WebhookSubscription

__all__ = [
    "AccessToken", "AgreementDocument", "AgreementDocumentContent", "AgreementNote", "AssertionJti", "AuditCheckpoint", "AuditEntry",
    "ChangeRecord", "ContractBuyer", "ContractTool", "DataProcessingAgreement", "Decision",
    "Deployment", "Feedback", "FieldSafetyNotice", "Incident", "IncidentDuty", "WebhookDelivery", "WebhookSubscription",
    "FrameworkContract", "Gateway", "GatewayCredential", "IdentityLink", "IdentityProvider",
    "Licence", "LoginFailure", "Organisation", "PatientObjection", "Purpose", "QuotaCounter", "SigningKey",
    "SubProcessor", "TermsRevision", "Tool", "ToolVersion", "UsageEvent", "UsageMonthly", "User", "UserSession", "metadata",
]
