"""Single sign-on: an organisation's OpenID Connect identity provider and the people it signs in.

One provider per organisation (a hospital's own Entra ID, Keycloak, ...). It may sign people in only
into that organisation: the link below ties a registry user to the provider's subject identifier.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db.base import json_field, utc_field


class IdentityProvider(SQLModel, table=True):
    __tablename__ = "identity_providers"

    id: int | None = Field(default=None, primary_key=True)
    # unique: one provider per organisation, so "which organisation" is never ambiguous.
    organisation_id: int = Field(foreign_key="organisations.id", unique=True)
    # The exact issuer identifier; discovery is read from {issuer}/.well-known/openid-configuration.
    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=255)
    # The registry must present the client secret to the provider's token endpoint at every
    # sign-in, so it cannot be a one-way hash like our own secrets. It is stored sealed with
    # AES-256-GCM under a key derived from REGISTRY_SECRET_KEY (registry.auth.secretbox), is never
    # shown again after entry, and is kept out of change records and audit entries.
    client_secret_sealed: str = Field(max_length=1024)
    # When the secret was last entered: the change record shows *that* it changed, never the value.
    client_secret_set_at: datetime = utc_field()
    # The claim carrying the provider's roles; a dotted path reaches into nested objects
    # (Keycloak: "realm_access.roles").
    roles_claim: str = Field(default="roles", max_length=120)
    # The provider's role value -> registry roles (names from registry.permissions.ROLES).
    role_mapping: dict[str, list[str]] = json_field(dict)
    active: bool = True
    created_at: datetime = utc_field()


class IdentityLink(SQLModel, table=True):
    """A registry user as known to an identity provider (its `sub`, stable per provider)."""

    __tablename__ = "identity_links"
    __table_args__ = (UniqueConstraint("provider_id", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    # Indexed by the unique (provider_id, subject) constraint: the sign-in looks links up by both.
    provider_id: int = Field(foreign_key="identity_providers.id")
    subject: str = Field(max_length=255)
    # unique: a user signs in through at most one provider.
    user_id: int = Field(foreign_key="users.id", unique=True)
    # The roles the provider's claim gave at the last sign-in: the next sign-in replaces these
    # and leaves alone what an admin granted in the registry.
    provider_roles: list[str] = json_field(list)
    created_at: datetime = utc_field()
