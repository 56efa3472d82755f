"""The web UI (Dutch and English): thin views over the services."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("web", __name__)

from registry.web import views  # noqa: E402,F401
from registry.web import login  # noqa: E402,F401
from registry.web import audit  # noqa: E402,F401
from registry.web import objects  # noqa: E402,F401
from registry.web import tokens  # noqa: E402,F401
from registry.web import sso  # noqa: E402,F401
from registry.web import organisations  # noqa: E402,F401
from registry.web import gateways  # noqa: E402,F401
from registry.web import users  # noqa: E402,F401

from registry.web import tools  # noqa: E402,F401
from registry.web import decisions  # noqa: E402,F401

from registry.web import agreements  # noqa: E402,F401
from registry.web import objections  # noqa: E402,F401

from registry.web import procurement  # noqa: E402,F401

from registry.web import clinical  # noqa: E402,F401

from registry.web import monitoring  # noqa: E402,F401
