"""Every object of the workspace, each described in a module of its own."""

from registry.workspace.types import organisations  # noqa: F401
from registry.workspace.types import gateways  # noqa: F401
from registry.workspace.types import tools  # noqa: F401
from registry.workspace.types import contracts  # noqa: F401
from registry.workspace.types import agreements  # noqa: F401
from registry.workspace.types import decisions  # noqa: F401
from registry.workspace.types import users  # noqa: F401
from registry.workspace.types import objections  # noqa: F401
from registry.workspace.types import clinical  # noqa: F401
