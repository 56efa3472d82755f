"""The staff workspace's objects, each described once.

An object type (:class:`registry.workspace.base.ObjectType`) names its model, columns, filters,
detail fields, related lists, permissions and JSON shape; the generic views in
``registry.web.objects`` and ``registry.api.objects`` turn each description into a list page with
filters, sorting, counts and CSV export, a detail page with history, and the JSON routes with
their OpenAPI entries (NetBox's generic object views are the model). A new object is a
description, not four hand-written views.
"""

from __future__ import annotations

from registry.workspace.base import OBJECT_TYPES, ObjectType, get_type

__all__ = ["OBJECT_TYPES", "ObjectType", "get_type", "load_all"]


def load_all() -> None:
    """Import every description so that it registers itself (called by the app factory)."""
    from registry.workspace import types  # noqa: F401
