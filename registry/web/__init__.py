"""The web UI (Dutch and English): thin views over the services."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("web", __name__)


def load_views() -> Blueprint:
    """Import the view modules, which register their routes on the blueprint; called by the app
    factory. Not at the package's import: the workspace's object types import ``registry.web.i18n``
    and the views import the object types, so importing every view whenever a module needed a
    translation made the import order matter (a circular import for whoever imported an object
    type first, as pytest-xdist's workers do)."""
    from registry.web import views  # noqa: F401
    from registry.web import login  # noqa: F401
    from registry.web import audit  # noqa: F401
    from registry.web import objects  # noqa: F401
    from registry.web import tokens  # noqa: F401
    from registry.web import sso  # noqa: F401
    from registry.web import organisations  # noqa: F401
    from registry.web import gateways  # noqa: F401
    from registry.web import users  # noqa: F401
    from registry.web import tools  # noqa: F401
    from registry.web import decisions  # noqa: F401
    from registry.web import agreements  # noqa: F401
    from registry.web import objections  # noqa: F401
    from registry.web import procurement  # noqa: F401
    from registry.web import clinical  # noqa: F401

    from registry.web import whatif  # noqa: F401
    from registry.web import evidence  # noqa: F401

    from registry.web import monitoring  # noqa: F401

    return blueprint
