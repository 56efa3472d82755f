"""The one list of permissions (``resource:action``, alphabetised) and which role holds which.

Every route declares the permission it needs; services re-check it with :func:`require`.
Unknown names fail loudly.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    AGREEMENTS_READ = "agreements:read"
    AGREEMENTS_WRITE = "agreements:write"
    AUDIT_EXPORT = "audit:export"
    AUDIT_MANAGE = "audit:manage"  # sign checkpoints on demand, seal, prune: admins only
    AUDIT_READ = "audit:read"
    BUNDLE_READ = "bundle:read"
    CONTRACTS_READ = "contracts:read"
    CONTRACTS_WRITE = "contracts:write"
    DECISIONS_EVALUATE = "decisions:evaluate"
    DECISIONS_READ = "decisions:read"
    DEPLOYMENTS_APPROVE = "deployments:approve"  # go-live, suspend, resume (AI Act Art. 26)
    DEPLOYMENTS_READ = "deployments:read"
    DEPLOYMENTS_WRITE = "deployments:write"  # the deployer's checklist, field-safety notices
    FEEDBACK_REPORT = "feedback:report"  # gateways: radiologists' agree/disagree on a decision
    GATEWAYS_MANAGE = "gateways:manage"
    INCIDENTS_WRITE = "incidents:write"  # report incidents, suspend, record who was told
    MONITORING_READ = "monitoring:read"  # pooled discrepancy rates (aggregates only)
    OBJECTIONS_READ = "objections:read"
    OBJECTIONS_WRITE = "objections:write"
    ORGANISATIONS_READ = "organisations:read"
    ORGANISATIONS_WRITE = "organisations:write"
    ROUTING_DECIDE = "routing:decide"
    TOKENS_INTROSPECT = "tokens:introspect"
    TOOLS_READ = "tools:read"
    TOOLS_WRITE = "tools:write"
    USAGE_READ = "usage:read"
    USAGE_REPORT = "usage:report"
    USERS_MANAGE = "users:manage"


P = Permission
# Monitoring figures are counts of decisions with their radiologists' feedback, no person in them:
# whoever may read the decisions one by one may read their aggregate (registry.scope still says
# whose), so every reading role holds it.
_READ_ALL = {P.AGREEMENTS_READ, P.CONTRACTS_READ, P.DECISIONS_READ, P.DEPLOYMENTS_READ,
             P.MONITORING_READ, P.ORGANISATIONS_READ, P.TOOLS_READ, P.USAGE_READ}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # Everything a person may do; routing, usage and feedback reports and bundles are for
    # gateways only.
    "admin": frozenset(set(Permission) - {P.BUNDLE_READ, P.FEEDBACK_REPORT, P.ROUTING_DECIDE,
                                          P.USAGE_REPORT}),
    "auditor": frozenset(_READ_ALL | {P.AUDIT_READ, P.AUDIT_EXPORT, P.OBJECTIONS_READ,
                                      P.DECISIONS_EVALUATE, P.TOKENS_INTROSPECT}),
    # A hospital's clinical owner (scoped to their hospital by registry.scope): the deployer's
    # checklist, the go-live approval, incidents and the suspend switch.
    "clinical_owner": frozenset(_READ_ALL | {P.DECISIONS_EVALUATE, P.DEPLOYMENTS_APPROVE,
                                             P.DEPLOYMENTS_WRITE, P.INCIDENTS_WRITE}),
    "legal": frozenset(_READ_ALL | {P.AGREEMENTS_WRITE, P.DECISIONS_EVALUATE}),
    "privacy_officer": frozenset(_READ_ALL | {P.AUDIT_READ, P.OBJECTIONS_READ,
                                              P.OBJECTIONS_WRITE}),
    "procurement": frozenset(_READ_ALL | {P.CONTRACTS_WRITE, P.DECISIONS_EVALUATE,
                                          P.ORGANISATIONS_WRITE, P.TOOLS_WRITE}),
    "viewer": frozenset(_READ_ALL),
    # A gateway's permissions are its OAuth scopes (registry.auth.scopes), not a role.
}

ROLES = tuple(sorted(ROLE_PERMISSIONS))


def permissions_for_roles(roles: list[str] | tuple[str, ...]) -> frozenset[Permission]:
    out: set[Permission] = set()
    for role in roles:
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"unknown role {role!r}; known roles: {', '.join(ROLES)}")
        out |= ROLE_PERMISSIONS[role]
    return frozenset(out)
