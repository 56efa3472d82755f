"""Shapes of API answers and of the OAuth form bodies, for the OpenAPI document.

The gateway routes answer with the views the services build (``decision_view`` …); these models
describe those views and are checked against real answers by the OpenAPI tests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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


class UsageBatch(BaseModel):
    events: list[dict[str, Any]] = Field(max_length=1000, description="usage events, see docs/usage.md")


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
