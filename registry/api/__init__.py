"""JSON API: thin edges that parse, build the actor, call one service and render."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

# Route modules register themselves on the blueprint.
from registry.api import decisions  # noqa: E402,F401
from registry.api import bundle  # noqa: E402,F401
from registry.api import gateways  # noqa: E402,F401
from registry.api import audit  # noqa: E402,F401
from registry.api import usage  # noqa: E402,F401
from registry.api import objects  # noqa: E402,F401
from registry.api import staff_organisations  # noqa: E402,F401
from registry.api import staff_users  # noqa: E402,F401

from registry.api import tools  # noqa: E402,F401

from registry.api import agreements  # noqa: E402,F401
from registry.api import objections  # noqa: E402,F401

from registry.api import procurement  # noqa: E402,F401

from registry.api import clinical  # noqa: E402,F401
from registry.api import evidence  # noqa: E402,F401
from registry.api import monitoring  # noqa: E402,F401
