"""A person's role never lists a gateway's OAuth scopes.

routing:decide, usage:report and bundle:read are what a gateway's token grants; the services
refuse every other kind of actor for them. A role that lists them declares a right it cannot
use, and `requires(...)` lets such a user past the edge only for the service to refuse.
"""

from __future__ import annotations

import pytest

from registry.auth.tokens import GATEWAY_SCOPES
from registry.permissions import ROLE_PERMISSIONS, ROLES


@pytest.mark.parametrize("role", ROLES)
def test_no_role_lists_a_gateway_scope(role):
    listed = sorted(ROLE_PERMISSIONS[role] & set(GATEWAY_SCOPES.values()))
    assert listed == [], f"role {role} lists gateway scopes {listed}"
