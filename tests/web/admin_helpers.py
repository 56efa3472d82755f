"""Shared by the admin tests (web and API): a hospital's own administrator, forms posted with
their CSRF token, the change records of one object."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.db.changes import ChangeRecord
from registry.db.organisations import Organisation
from registry.services.users import create_user
from tests.factories import SYSTEM
from tests.web.helpers import csrf_token

HOSPITAL_ADMIN = "beheer@oost.demo.aifi.nl"
HOSPITAL_ADMIN_PASSWORD = "oost-admin-password-1"


def hospital(session, name: str) -> Organisation:  # noqa: ANN001
    return session.scalar(select(Organisation).where(Organisation.name == name))


def hospital_admin(session, clock):  # noqa: ANN001, ANN201
    """An administrator of Demo Ziekenhuis Oost: sees and changes only Oost's things."""
    oost = hospital(session, "Demo Ziekenhuis Oost")
    user, _ = create_user(session, actor=SYSTEM, clock=clock, email=HOSPITAL_ADMIN, roles=["admin"],
                          organisation_id=oost.id, password=HOSPITAL_ADMIN_PASSWORD)
    session.commit()
    return user


def post_form(client, path: str, data: dict, page: str | None = None):  # noqa: ANN001, ANN201
    """POST ``data`` to ``path`` with the CSRF token of the page (``page``, default ``path``)."""
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_token(html), **data})


def changes(session, table: str, object_id, action: str | None = None) -> list[ChangeRecord]:  # noqa: ANN001
    stmt = select(ChangeRecord).where(ChangeRecord.object_type == table,
                                      ChangeRecord.object_id == str(object_id)).order_by(ChangeRecord.id)
    if action:
        stmt = stmt.where(ChangeRecord.action == action)
    return list(session.scalars(stmt))


def assert_field_error(html: str, field: str) -> None:
    """The GOV.UK pattern: a summary (role=alert) linking to the field, the error beside it."""
    assert 'class="error-summary" role="alert"' in html
    assert f'href="#{field}"' in html, field
    assert f'id="{field}-error"' in html, field
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', html) \
        or f'<fieldset class="form-group form-group-error" id="{field}"' in html, field
