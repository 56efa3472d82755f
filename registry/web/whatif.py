"""What-if previews next to the buttons that change terms: template globals, so that the pages of
other workspaces need only an include (``templates/whatif/_preview.html``).

A preview that cannot be made (the person may not make the change, or the object is not in a
state to change) shows nothing: the button's own page says why when it is pressed.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import g

from registry.actor import PermissionDenied
from registry.edge import db, registry
from registry.services import whatif
from registry.services.errors import ServiceError
from registry.web import blueprint


def _safely(run: Callable[..., whatif.WhatIf], **kw: Any) -> whatif.WhatIf | None:
    reg = registry()
    try:
        return run(db(), actor=g.web_actor, clock=reg.clock, engine=reg.policy, **kw)
    except (ServiceError, PermissionDenied):
        return None


@blueprint.app_template_global("whatif_version_suspension")
def whatif_version_suspension(version: Any) -> whatif.WhatIf | None:
    return _safely(whatif.preview_version_suspension, tool_version_id=version.id)


@blueprint.app_template_global("whatif_deployment_suspension")
def whatif_deployment_suspension(deployment: Any) -> whatif.WhatIf | None:
    return _safely(whatif.preview_deployment_suspension, deployment_id=deployment.id)


@blueprint.app_template_global("whatif_agreement")
def whatif_agreement(agreement: Any, to: str) -> whatif.WhatIf | None:
    """Terminating or suspending an agreement (other moves do not stop routing)."""
    if to not in ("terminated", "suspended"):
        return None
    return _safely(whatif.preview_agreement_transition, agreement_id=agreement.id, to=to)


def licence_change(licence_id: int, changes: dict[str, Any]) -> whatif.WhatIf | None:
    """An amendment typed into the licence form (ending early: an earlier last day)."""
    return _safely(whatif.preview_licence_change, licence_id=licence_id, changes=changes)
