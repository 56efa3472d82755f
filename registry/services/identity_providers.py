"""Single sign-on: register an organisation's OpenID Connect provider, and sign its people in.

A provider signs people in **only into its own organisation**. An unknown person becomes a user of
that organisation with the roles the provider's role claim maps to, or the viewer role when it maps
to none, until an admin grants more. A registry user of another organisation (or national staff)
with the same e-mail address is refused: the provider cannot speak for them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from authlib.common.security import is_secure_transport
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.auth.secretbox import SealError, seal, unseal
from registry.clock import Clock
from registry.db.identity import IdentityLink, IdentityProvider
from registry.db.organisations import Organisation, OrganisationStatus
from registry.db.users import User
from registry.permissions import ROLES, Permission
from registry.scope import restrict, scope_of
from registry.services._rows import create_row, update_row
from registry.services.errors import NotFound, ServiceError, ValidationFailed

log = logging.getLogger("registry.sso")

# An external provider may grant any role but admin: a compromised or misconfigured hospital
# directory must never be able to mint registry administrators. Admins are made in the registry.
PROVIDER_ASSIGNABLE_ROLES = tuple(r for r in ROLES if r != "admin")
FIRST_SIGN_IN_ROLE = "viewer"
_SEAL_PURPOSE = "identity-provider-client-secret"
_CLAIM_PATH = re.compile(r"^[A-Za-z0-9_:/\-]+(\.[A-Za-z0-9_:/\-]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EDITABLE = {"issuer", "client_id", "client_secret", "roles_claim", "role_mapping", "active"}


class ProviderUnavailable(ServiceError):
    """The provider cannot be used right now (unreachable, or its secret unreadable here)."""

    code = "SSO_UNAVAILABLE"
    status = 503


class SignInRefused(ServiceError):
    """The provider vouched for someone it may not sign in here (another organisation, disabled)."""

    code = "SSO_REFUSED"
    status = 403

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class LoginOption:
    """What the login page shows: no issuer, no client id, just whom one signs in with."""

    provider_id: int
    organisation_name: str


@dataclass(frozen=True)
class ProviderClient:
    """What the sign-in flow needs to talk to the provider, the client secret opened."""

    provider_id: int
    issuer: str
    client_id: str
    client_secret: str


def _seal_context(organisation_id: int) -> str:
    return f"identity_providers:{organisation_id}"


def _validate(fields: dict[str, Any], *, creating: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if "issuer" in fields:
        issuer = fields["issuer"] or ""
        if (not issuer or len(issuer) > 500 or not is_secure_transport(issuer)
                or "?" in issuer or "#" in issuer):
            errors["issuer"] = "must be an https URL (http only on this machine), without query or fragment"
    if "client_id" in fields and not (0 < len(fields["client_id"] or "") <= 255):
        errors["client_id"] = "is required (at most 255 characters)"
    if creating and not fields.get("client_secret"):
        errors["client_secret"] = "is required"
    if len(fields.get("client_secret") or "") > 512:
        errors["client_secret"] = "is longer than 512 characters"
    if "roles_claim" in fields and not _CLAIM_PATH.match(fields["roles_claim"] or ""):
        errors["roles_claim"] = "must be a claim name or a dotted path (realm_access.roles)"
    if "role_mapping" in fields:
        mapping = fields["role_mapping"]
        if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and k and isinstance(v, list) and v for k, v in mapping.items()):
            errors["role_mapping"] = "must map each provider role to one or more registry roles"
        else:
            bad = sorted({r for roles in mapping.values() for r in roles
                          if r not in PROVIDER_ASSIGNABLE_ROLES})
            if bad:
                errors["role_mapping"] = (f"cannot map to {', '.join(bad)}; a provider may grant "
                                          f"{', '.join(PROVIDER_ASSIGNABLE_ROLES)}")
    return errors


def list_identity_providers(session: Session, *, actor: Actor) -> list[tuple[IdentityProvider, Organisation]]:
    actor.require(Permission.USERS_MANAGE)
    query = (select(IdentityProvider, Organisation)
             .join(Organisation, Organisation.id == IdentityProvider.organisation_id)
             .order_by(Organisation.name))
    return [(p, o) for p, o in session.execute(query)]


def get_identity_provider(session: Session, *, actor: Actor,
                          provider_id: int) -> tuple[IdentityProvider, Organisation]:
    actor.require(Permission.USERS_MANAGE)
    provider = session.get(IdentityProvider, provider_id)
    if provider is None:
        raise NotFound(f"no identity provider {provider_id}")
    return provider, session.get(Organisation, provider.organisation_id)


def organisations_without_provider(session: Session, *, actor: Actor) -> list[Organisation]:
    """The organisations an admin can register a provider for (one each; not offboarded)."""
    actor.require(Permission.USERS_MANAGE)
    taken = select(IdentityProvider.organisation_id)
    return list(session.scalars(restrict(
        select(Organisation).where(Organisation.id.not_in(taken),
                                   Organisation.status != OrganisationStatus.OFFBOARDED)
        .order_by(Organisation.name), scope_of(session, actor), Organisation)))


def register_identity_provider(session: Session, *, actor: Actor, clock: Clock, secret_key: str,
                               organisation_id: int, issuer: str, client_id: str,
                               client_secret: str, roles_claim: str = "roles",
                               role_mapping: dict[str, list[str]] | None = None,
                               active: bool = True) -> IdentityProvider:
    """Register the organisation's provider. The client secret is sealed, never stored plain."""
    actor.require(Permission.USERS_MANAGE)  # first: an unauthorised caller learns nothing
    role_mapping = role_mapping or {}
    errors = _validate({"issuer": issuer, "client_id": client_id, "client_secret": client_secret,
                        "roles_claim": roles_claim, "role_mapping": role_mapping}, creating=True)
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or organisation.status == OrganisationStatus.OFFBOARDED:
        errors["organisation_id"] = "is not an organisation that can sign people in"
    elif session.scalar(select(IdentityProvider.id).where(IdentityProvider.organisation_id == organisation_id)):
        # Checked here for a clear message; the unique constraint is the backstop under races.
        errors["organisation_id"] = "already has an identity provider"
    if errors:
        raise ValidationFailed("invalid identity provider", errors)
    provider = IdentityProvider(
        organisation_id=organisation_id, issuer=issuer, client_id=client_id,
        client_secret_sealed=seal(client_secret, secret_key=secret_key, purpose=_SEAL_PURPOSE,
                                  context=_seal_context(organisation_id)),
        client_secret_set_at=clock.now(), roles_claim=roles_claim,
        role_mapping={k: sorted(set(v)) for k, v in role_mapping.items()}, active=active)
    return create_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE,
                      row=provider)


def update_identity_provider(session: Session, *, actor: Actor, clock: Clock, secret_key: str,
                             provider_id: int, changes: dict[str, Any]) -> IdentityProvider:
    """Change the fields named in ``changes``; an empty ``client_secret`` keeps the old one.
    The organisation cannot change: register the other organisation's provider instead."""
    actor.require(Permission.USERS_MANAGE)
    provider, _ = get_identity_provider(session, actor=actor, provider_id=provider_id)
    unknown = sorted(set(changes) - _EDITABLE)
    if unknown:
        raise ValidationFailed("invalid identity provider", {k: "cannot be changed" for k in unknown})
    errors = _validate(changes, creating=False)
    if errors:
        raise ValidationFailed("invalid identity provider", errors)
    values = {k: v for k, v in changes.items() if k != "client_secret"}
    if "role_mapping" in values:
        values["role_mapping"] = {k: sorted(set(v)) for k, v in values["role_mapping"].items()}
    if changes.get("client_secret"):
        values["client_secret_sealed"] = seal(changes["client_secret"], secret_key=secret_key,
                                              purpose=_SEAL_PURPOSE,
                                              context=_seal_context(provider.organisation_id))
        values["client_secret_set_at"] = clock.now()
    return update_row(session, actor=actor, clock=clock, permission=Permission.USERS_MANAGE,
                      row=provider, changes=values)


def login_options(session: Session) -> list[LoginOption]:
    """The providers anyone may start a sign-in with (public: the login page lists them)."""
    query = (select(IdentityProvider.id, Organisation.name)
             .join(Organisation, Organisation.id == IdentityProvider.organisation_id)
             .where(IdentityProvider.active, Organisation.status != OrganisationStatus.OFFBOARDED)
             .order_by(Organisation.name))
    return [LoginOption(provider_id=i, organisation_name=n) for i, n in session.execute(query)]


def _signing_in_provider(session: Session, provider_id: int) -> tuple[IdentityProvider, Organisation]:
    provider = session.get(IdentityProvider, provider_id)
    organisation = provider and session.get(Organisation, provider.organisation_id)
    if (provider is None or not provider.active or organisation is None
            or organisation.status == OrganisationStatus.OFFBOARDED):
        raise NotFound(f"no active identity provider {provider_id}")
    return provider, organisation


def provider_client(session: Session, *, provider_id: int, secret_key: str) -> ProviderClient:
    """The active provider's issuer and client credentials, for the sign-in flow (public)."""
    provider, _ = _signing_in_provider(session, provider_id)
    try:
        secret = unseal(provider.client_secret_sealed, secret_key=secret_key, purpose=_SEAL_PURPOSE,
                        context=_seal_context(provider.organisation_id))
    except SealError as exc:
        # Typically REGISTRY_SECRET_KEY changed: an admin must enter the client secret again.
        log.error("identity provider %s: client secret cannot be opened; enter it again", provider.id)
        raise ProviderUnavailable("the identity provider's client secret cannot be read") from exc
    return ProviderClient(provider_id=provider.id, issuer=provider.issuer,
                          client_id=provider.client_id, client_secret=secret)


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def mapped_roles(provider: IdentityProvider, claims: dict[str, Any]) -> list[str]:
    """Registry roles for the provider's role values in ``claims``; unknown values give nothing."""
    values = _claim(claims, provider.roles_claim)
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    roles = {r for v in values if isinstance(v, str) for r in provider.role_mapping.get(v, [])}
    # Checked again at sign-in: a mapping stored before a role was withdrawn grants nothing.
    return sorted(roles & set(PROVIDER_ASSIGNABLE_ROLES))


def _email(claims: dict[str, Any]) -> str:
    if claims.get("email_verified") is False:
        raise SignInRefused("EMAIL_NOT_VERIFIED", "the provider has not verified this e-mail address")
    email = claims.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email) or len(email) > 254:
        raise SignInRefused("NO_EMAIL", "the provider sent no e-mail address (scope 'email')")
    return email.lower()


def sign_in_with_provider(session: Session, *, clock: Clock, provider_id: int,
                          claims: dict[str, Any], request_id: str | None = None) -> User:
    """The registry user for the checked id_token ``claims`` of ``provider_id``.

    Finds the user by the provider's subject, or links a user of the provider's own organisation by
    e-mail, or creates one. Refuses (SignInRefused) anyone outside that organisation. The roles the
    provider maps are brought up to date; roles an admin granted in the registry are kept.
    """
    provider, organisation = _signing_in_provider(session, provider_id)
    # The provider acts for its organisation only, and may only manage the users it signs in.
    actor = Actor(kind="system", id=f"sso:{provider.id}", label=f"single sign-on: {organisation.name}",
                  permissions=frozenset({Permission.USERS_MANAGE}), organisation_id=organisation.id,
                  request_id=request_id)
    kw = {"actor": actor, "clock": clock, "permission": Permission.USERS_MANAGE}
    granted = mapped_roles(provider, claims)
    link = session.scalar(select(IdentityLink).where(IdentityLink.provider_id == provider.id,
                                                     IdentityLink.subject == claims["sub"]))
    if link is not None:
        user = session.get(User, link.user_id)
    else:
        if not 0 < len(claims["sub"]) <= 255:
            raise SignInRefused("BAD_SUBJECT", "the provider's subject identifier is too long")
        email = _email(claims)
        user = session.scalar(select(User).where(User.email == email))
        created = user is None
        if created:
            name = claims.get("name") if isinstance(claims.get("name"), str) else ""
            user = create_row(session, **kw, row=User(
                email=email, name=name[:200], roles=granted or [FIRST_SIGN_IN_ROLE],
                organisation_id=organisation.id, password_hash=None),
                message="first sign-in through single sign-on")
        elif user.organisation_id != organisation.id:
            raise SignInRefused("OTHER_ORGANISATION",
                                "this e-mail address belongs to a user of another organisation")
        elif session.scalar(select(IdentityLink.id).where(IdentityLink.user_id == user.id)):
            raise SignInRefused("LINKED_ELSEWHERE",
                                "this user is linked to another account at the provider")
        link = create_row(session, **kw, row=IdentityLink(
            provider_id=provider.id, subject=claims["sub"], user_id=user.id,
            # A new user's roles came from the provider; an existing one's from an admin.
            provider_roles=granted if created else []))
    # Checked on every sign-in: an admin may have moved the user to another organisation.
    if user is None or user.organisation_id != organisation.id:
        raise SignInRefused("OTHER_ORGANISATION", "this user belongs to another organisation")
    if not user.active:
        raise SignInRefused("USER_DISABLED", "this user has been disabled in the registry")
    roles = sorted((set(user.roles) - set(link.provider_roles)) | set(granted)) or [FIRST_SIGN_IN_ROLE]
    if roles != sorted(user.roles):
        update_row(session, **kw, row=user, changes={"roles": roles},
                   message="roles from the identity provider's claim")
    if granted != link.provider_roles:
        update_row(session, **kw, row=link, changes={"provider_roles": granted})
    return user
