"""Web-session tests log in through the real form (CSRF off: the CSRF check has its own test)."""

from __future__ import annotations

import pytest

from registry.db.audit import AuditEntry
from sqlalchemy import select

PASSWORD = "aifi-demo-2026"  # the demo users' password (development only)


@pytest.fixture
def web(app, client):
    app.config["WTF_CSRF_ENABLED"] = False
    return client


def form_login(client, email: str, password: str = PASSWORD, next_: str | None = None, **kw):  # noqa: ANN001, ANN201
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(url, data={"email": email, "password": password}, **kw)


def entries(session, event_type: str) -> list[AuditEntry]:  # noqa: ANN001
    return list(session.scalars(select(AuditEntry).where(AuditEntry.event_type == event_type)
                                .order_by(AuditEntry.id)))
