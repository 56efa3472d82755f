"""Shapes of API answers and of the OAuth form bodies, for the OpenAPI document.

The gateway routes answer with the views the services build (``decision_view`` …); these models
describe those views and are checked against real answers by the OpenAPI tests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from registry.validation import Day


class Reason(BaseModel):
    code: str = Field(description="a reason code, see docs/decisions.md")
    detail: str
    ref: str | None = None


class DecisionAnswer(BaseModel):
    decision_id: str
    decision: Literal["permit", "deny"]
    reasons: list[Reason]
    obligations: list[dict[str, Any]]
    refs: dict[str, Any]
    quota: dict[str, Any] | None
    policy_version: str
    decided_at: str
    evaluated_on: str
    dry_run: bool
    replayed: bool
    ttl_seconds: int
    jws: str = Field(description="the same fields signed by the registry (Ed25519, kid in the JWKS)")


class AuditExportQuery(BaseModel):
    """The query of GET /api/v1/audit/export: the format and the audit viewer's filters. The
    filters are parsed as the viewer's form sends them, so an empty value means "no filter"."""

    format: Literal["jsonl", "csv", "fhir"] = "jsonl"
    organisation: int | Literal[""] | None = Field(None, description="entries about this organisation")
    actor: str | None = Field(None, max_length=120)
    object_type: str | None = Field(None, max_length=40)
    object_id: str | None = Field(None, max_length=64)
    action: Literal["C", "R", "U", "D", "E", ""] | None = None
    since: Day | Literal[""] | None = Field(None, alias="from",
                                             description="first day (Amsterdam), inclusive")
    until: Day | Literal[""] | None = Field(None, alias="to", description="last day (Amsterdam), inclusive")


class UsageBatch(BaseModel):
    # Any item: each event is judged on its own, and one that is not a valid event (not even an
    # object) is rejected at its index in a 200 answer while the others are stored.
    events: list[Any] = Field(max_length=1000, description="usage events, see docs/usage.md")


class OAuthTokenForm(BaseModel):
    grant_type: Literal["client_credentials"]
    scope: str | None = None
    client_assertion_type: str | None = None
    client_assertion: str | None = None


class OAuthTokenAnswer(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class RevokeForm(BaseModel):
    token: str
    token_type_hint: str | None = None
