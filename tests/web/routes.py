"""Every web route from the URL map, with real arguments, for the walks that cover them all."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.clock import FixedClock
from registry.db.organisations import Organisation
from registry.workspace import OBJECT_TYPES

# Routes that answer with a redirect or a document, not a page.
# Downloads, not pages (the evidence pack's PDF text is checked in tests/evidence).
NOT_PAGES = {"api_docs.openapi", "web.sso_start", "web.sso_callback", "web.evidence_pdf", "web.evidence_json",
             "web.licences_import_template"}
# Pages that show something only with a query.
SAMPLE_QUERIES = {"web.matrix_explain": "?hospital=99000101&tool=bonexpert&on=2026-06-01",
                  "web.search": "?q=Oost"}


# Pages of one object that are not named after its type (web.tool_edit, web.tool_version_suspend, …).
def sample_version(session, slug: str) -> str:  # noqa: ANN001
    """A version of the tool with this slug (its default first)."""
    from registry.db.tools import Tool, ToolVersion

    return session.scalar(select(ToolVersion.version).join(Tool, Tool.id == ToolVersion.tool_id)
                          .where(Tool.slug == slug).order_by(ToolVersion.is_default.desc()).limit(1))


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
        # The object type is the path's first segment (/agreements/<key>/subprocessors/...).
        path = path.replace("<key>", sample_key(session, rule.rule.split("/")[1]))
    if "<version>" in path:
        path = path.replace("<version>", sample_version(session, path.split("/")[2]))
    if rule.endpoint == "web.audit_history":
        path = "/audit/object/organisations/1"
    path = path.replace("<fmt>", "csv").replace("<provider_id>", str(identity_provider(session))
                                                 if "<provider_id>" in path else "")
    # The evidence pack of a pilot hospital's tool (demo world).
    path = path.replace("<hospital_ura>", "90000033").replace("<tool_slug>", "bonexpert")
    path = re.sub(r"<int:\w+>", "1", path)
    assert "<" not in path, f"no sample arguments for {rule.endpoint} ({rule.rule}): add them in tests/web/routes.py"
    return path + SAMPLE_QUERIES.get(rule.endpoint, "")


def web_rules(app):  # noqa: ANN001, ANN201
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("ops.") \
                or rule.rule.startswith(("/api/v1", "/oauth/", "/.well-known/")):
            continue  # the API, OAuth and the operators' probes are covered by their own tests
        yield rule


def web_pages(app, session) -> list[str]:  # noqa: ANN001
    """Every GET page of the web UI, with real keys; the list grows with the URL map."""
    urls = {sample_path(rule, session) for rule in web_rules(app)
            if "GET" in rule.methods and rule.endpoint not in NOT_PAGES and not rule.endpoint.endswith("_export")
            and rule.endpoint != "web.logout"}
    return sorted(urls)
