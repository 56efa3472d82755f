"""Who is acting. Passed explicitly into every service; never read from a Flask global there."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.permissions import Permission, permissions_for_roles


class PermissionDenied(Exception):
    def __init__(self, permission: Permission | str, actor: "Actor"):
        super().__init__(f"{actor.ref} lacks permission {permission}")
        self.permission = permission


@dataclass(frozen=True)
class Actor:
    kind: str  # "user", "gateway" or "system"
    id: str
    label: str = ""
    roles: tuple[str, ...] = ()
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    # For a gateway: the hospital it belongs to. It never acts for another one.
    hospital_id: int | None = None
    gateway_id: int | None = None
    organisation_id: int | None = None
    request_id: str | None = None
    network_access_point: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def on_behalf_of_id(self) -> int | None:
        return self.hospital_id or self.organisation_id

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if not isinstance(permission, Permission):
            raise ValueError(f"unknown permission {permission!r}")
        if permission not in self.permissions:
            raise PermissionDenied(permission, self)

    @classmethod
    def system(cls, name: str, request_id: str | None = None) -> "Actor":
        """The registry itself (demo seeding, sweeps, migrations). Holds every permission."""
        return cls(kind="system", id=name, label=name, roles=("admin",),
                   permissions=frozenset(Permission), request_id=request_id)

    @classmethod
    def for_user(cls, user, request_id: str | None = None, network_access_point: str = "",  # noqa: ANN001
                 permissions: frozenset[Permission] | None = None) -> "Actor":
        """A person. ``permissions`` narrows their roles' permissions (a personal API token's
        scopes); it can never widen them."""
        held = permissions_for_roles(user.roles)
        return cls(kind="user", id=str(user.id), label=user.email, roles=tuple(user.roles),
                   permissions=held if permissions is None else held & permissions,
                   organisation_id=user.organisation_id, request_id=request_id,
                   network_access_point=network_access_point)

    @classmethod
    def for_gateway(cls, gateway, scopes: frozenset[Permission], request_id: str | None = None,
                    network_access_point: str = "") -> "Actor":  # noqa: ANN001
        return cls(kind="gateway", id=gateway.client_id, label=gateway.name, roles=("gateway",),
                   permissions=scopes, hospital_id=gateway.hospital_id, gateway_id=gateway.id,
                   request_id=request_id, network_access_point=network_access_point)
