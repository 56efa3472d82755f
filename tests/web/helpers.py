"""Logging in through the real login form (CSRF token read from the page)."""

from __future__ import annotations

import re

from registry.demo import DEMO_PASSWORD

ALL_DEMO_USERS = ["admin@demo.aifi.nl", "inkoop@demo.aifi.nl", "jurist@demo.aifi.nl", "auditor@demo.aifi.nl",
                  "privacy@demo.aifi.nl", "lezer@demo.aifi.nl", "privacy@oost.demo.aifi.nl",
                  "lezer@noord.demo.aifi.nl"]


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, email: str, password: str = DEMO_PASSWORD) -> None:  # noqa: ANN001
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
