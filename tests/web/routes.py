"""Every web route from the URL map, with real arguments, for the walks that cover them all."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.clock import FixedClock
from registry.db.organisations import Organisation
from registry.workspace import OBJECT_TYPES

# Routes that answer with a redirect or a document, not a page.
NOT_PAGES = {"api_docs.openapi", "web.sso_start", "web.sso_callback"}
# Pages that show something only with a query.
SAMPLE_QUERIES = {"web.matrix_explain": "?hospital=99000101&tool=bonexpert&on=2026-06-01",
                  "web.search": "?q=Oost"}


def sample_key(session, type_key: str) -> str:  # noqa: ANN001
    otype = OBJECT_TYPES[type_key]
    row = session.scalars(otype.statement().limit(1)).first()
    assert row is not None, f"the demo world has no {type_key}"
    return otype.url_key(row)


def identity_provider(session) -> int:  # noqa: ANN001
    from registry.db.identity import IdentityProvider
    from registry.services.identity_providers import register_identity_provider
    from tests.conftest import DEMO_NOW
    from tests.factories import SYSTEM

    hospital = session.scalar(select(Organisation).where(Organisation.name == "Radboudumc"))
    existing = session.scalar(select(IdentityProvider.id).where(IdentityProvider.organisation_id == hospital.id))
    if existing is not None:
        return existing
    provider = register_identity_provider(session, actor=SYSTEM, clock=FixedClock(DEMO_NOW), secret_key="k" * 40,
                                          organisation_id=hospital.id, issuer="https://idp.example",
                                          client_id="registry", client_secret="provider secret")
    session.commit()
    return provider.id


def sample_path(rule, session) -> str:  # noqa: ANN001
    """The rule's path with real arguments; fails naming the rule when it does not know them."""
    path = rule.rule
    if "<key>" in path:
        path = path.replace("<key>", sample_key(session, rule.endpoint.split(".", 1)[1].rsplit("_", 1)[0]))
    if rule.endpoint == "web.audit_history":
        path = "/audit/object/organisations/1"
    path = path.replace("<fmt>", "csv").replace("<provider_id>", str(identity_provider(session))
                                                 if "<provider_id>" in path else "")
    path = re.sub(r"<int:\w+>", "1", path)
    assert "<" not in path, f"no sample arguments for {rule.endpoint} ({rule.rule}): add them in tests/web/routes.py"
    return path + SAMPLE_QUERIES.get(rule.endpoint, "")


def web_rules(app):  # noqa: ANN001, ANN201
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith(("/api/v1", "/oauth/", "/.well-known/")):
            continue
        yield rule


def web_pages(app, session) -> list[str]:  # noqa: ANN001
    """Every GET page of the web UI, with real keys; the list grows with the URL map."""
    urls = {sample_path(rule, session) for rule in web_rules(app)
            if "GET" in rule.methods and rule.endpoint not in NOT_PAGES and not rule.endpoint.endswith("_export")
            and rule.endpoint != "web.logout"}
    return sorted(urls)
