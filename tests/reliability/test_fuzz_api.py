"""Fuzzing the HTTP API from its own OpenAPI document (issue 13, "Reliability": fuzzing).

Schemathesis reads the document the app serves at ``/api/openapi.json`` and generates requests for
every operation in it — the gateway routes, the staff routes and the OAuth endpoints — valid ones
(positive) and ones that break the schema (negative), sent in-process through WSGI with valid
credentials: a gateway token with every gateway scope, a national admin's personal API token, and
the HTTP Basic credentials of a gateway client for the OAuth endpoints. For every answer:

- no 5xx, and no Python traceback in any body;
- every error (4xx) body is JSON;
- a rejected request (4xx) stores nothing: the rows of every table are counted before and after,
  and the only rows a refusal may add are its own access-log entries (NEN 7513 logs refused and
  failed authentications on purpose);
- the answer matches the document: status codes, content types and response schemas
  (schemathesis' own conformance checks), and negative data is rejected.

Each case runs inside a savepoint of the test's transaction that is rolled back afterwards, so
cases do not depend on one another and a failure replays exactly (``derandomize``).
Run it alone: ``.venv/bin/python -m pytest tests/reliability/test_fuzz_api.py -q``
(``FUZZ_EXAMPLES=200`` for a longer run; see docs/performance.md, "Fuzzing").
"""

from __future__ import annotations

import base64
import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.access import CLIENT_AUTH, REFUSED
from registry.auth.tokens import GATEWAY_SCOPES
from registry.db import metadata
from registry.db.audit import AuditEntry
from registry.db.users import User
from registry.permissions import permissions_for_roles
from registry.services import api_tokens
from registry.services import gateways as gateway_service
from registry.services.terms_cache import TermsCache
from tests.factories import SYSTEM, bearer

# Cases per operation and generation mode: 39 operations × 2 modes × this. Bounded so that the
# whole test stays well under a minute on an idle machine.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# What a refused or failed authentication writes on purpose: its access-log entry.
REFUSAL_LOG = {REFUSED, CLIENT_AUTH}
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/')


def _counts(connection) -> dict[str, int]:  # noqa: ANN001
    """The rows of every table, in one statement (scalar subqueries), on the test's connection."""
    columns = [select(func.count()).select_from(t).scalar_subquery().label(t.name)
               for t in metadata.sorted_tables]
    return dict(connection.execute(select(*columns)).one()._mapping)


def _newest_audit_id(connection) -> int:  # noqa: ANN001
    return connection.execute(select(func.coalesce(func.max(AuditEntry.id), 0))).scalar_one()


def _credentials(session: Session, clock, world) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """Valid credentials of each kind, committed (into the test's transaction)."""
    admin = session.scalar(select(User).where(User.email == "admin@demo.aifi.nl"))
    staff = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=admin.id,
                                             name="fuzz")
    gateway, secret = gateway_service.register_gateway(session, actor=SYSTEM, clock=clock,
                                                       hospital_id=world.hospital.id, name="fuzz-gw")
    session.commit()
    basic = base64.b64encode(f"{gateway.client_id}:{secret}".encode()).decode()
    return {"gateway": bearer(session, clock, world.gateway, scope=" ".join(GATEWAY_SCOPES)),
            "staff": {"Authorization": f"Bearer {staff.token}"},
            "client": {"Authorization": f"Basic {basic}"},
            "admin_permissions": {str(p) for p in permissions_for_roles(admin.roles)}}


def _who_may_call(operation, credentials) -> list[str]:  # noqa: ANN001
    """Which credentials fit an operation: by the permissions it declares in the document."""
    needed = set(operation.definition.raw.get("x-required-permissions", []))
    if not needed:
        # Public routes and the OAuth endpoints, which authenticate the client itself.
        return ["client"] if operation.path.startswith("/oauth/") else ["anonymous"]
    who = []
    if needed & {str(p) for p in GATEWAY_SCOPES.values()}:
        who.append("gateway")
    if needed & credentials["admin_permissions"]:
        who.append("staff")
    assert who, f"no credentials in this test may call {operation.label}"
    return who


def _is_json(response) -> bool:  # noqa: ANN001
    if not response.headers.get("content-type", [""])[0].startswith("application/json"):
        return False
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


@pytest.mark.slow
def test_fuzz_every_operation_of_the_openapi_document(app, connection, session, clock, world):
    credentials = _credentials(session, clock, world)
    session.close()  # from here on the test reads through its connection only
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 39, "the document lost operations"
    registry = app.extensions["registry"]
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, negative_data_rejection]
    failures: list[str] = []
    calls = 0

    def one(case, who: str) -> None:  # noqa: ANN001
        nonlocal calls
        calls += 1
        savepoint = connection.begin_nested()
        try:
            before, newest = _counts(connection), _newest_audit_id(connection)
            response = case.call()
            body = response.content.decode("utf-8", "replace")
            where = f"{case.operation.label} as {who}: {response.status_code} {body[:300]}"
            assert response.status_code < 500, where
            assert not any(marker in body for marker in TRACEBACK_MARKERS), where
            if response.status_code >= 400:
                assert _is_json(response), f"error body is not JSON: {where}"
                after = _counts(connection)
                changed = {t: after[t] - before[t] for t in after if after[t] != before[t]}
                added = set(connection.execute(select(AuditEntry.event_type)
                                               .where(AuditEntry.id > newest)).scalars())
                if set(changed) <= {"audit_entries"} and added <= REFUSAL_LOG:
                    changed = {}
                assert not changed, f"a rejected request stored {changed} (new audit {added}): {where}"
            # 413 (a body beyond the size limit, refused unread) is a rejection too, one that
            # schemathesis' negative-data check does not list; what it stored was counted above.
            case.validate_response(response, checks=checks if response.status_code != 413
                                   else [c for c in checks if c is not negative_data_rejection])
        finally:
            savepoint.rollback()
            # The in-memory terms belong to revisions this savepoint may have made and undone.
            registry.terms = TermsCache()

    for operation in operations:
        who = _who_may_call(operation, credentials)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            # The credentials are fixed headers, so that negative mode never garbles them: the
            # requests are valid callers sending invalid input.
            @given(st.one_of([st.tuples(operation.as_strategy(
                generation_mode=mode, headers=credentials.get(name)), st.just(name)) for name in who]))
            def fuzz(case_and_who) -> None:  # noqa: ANN001
                one(*case_and_who)

            try:
                fuzz()
            except Unsatisfiable:
                # Negative mode: nothing here can be made invalid (a free-text path key, say).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as exc:  # noqa: BLE001  (every operation's, then fail)
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert calls >= len(operations)


def test_the_document_says_what_the_routes_answer(client):
    """What the first fuzz runs found wrong in the document itself (now fixed in the generator)."""
    paths = client.get("/api/openapi.json").get_json()["paths"]
    # Routes that create something answer 201, not 200.
    for path in ("/api/v1/audit/checkpoints", "/api/v1/gateways"):
        assert set(paths[path]["post"]["responses"]) >= {"201"} and "200" not in paths[path]["post"]["responses"]
    # The bundle is a compact JWS (application/jose, RFC 7515 §9.2.1); the export has one media
    # type per format, which is a documented query parameter.
    assert list(paths["/api/v1/bundle"]["get"]["responses"]["200"]["content"]) == ["application/jose"]
    export = paths["/api/v1/audit/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {
        "application/x-ndjson", "text/csv; charset=utf-8", "application/fhir+json"}
    assert {p["name"] for p in export["parameters"]} >= {"format", "from", "to"}
    # The OAuth endpoints answer errors in RFC 6749's shape, not the API's.
    for path in ("/oauth/token", "/oauth/revoke"):
        responses = paths[path]["post"]["responses"]
        assert responses["400"] == responses["401"] == {"$ref": "#/components/responses/OAuthError"}
    introspect = paths["/oauth/introspect"]["post"]["responses"]
    assert introspect["400"]["$ref"].endswith("/OAuthError") and introspect["401"]["$ref"].endswith("/Error")
    # Usage events are judged one by one: any item is accepted into the batch, and one that is not
    # an event is rejected at its index in a 200 answer (docs/usage.md).
    usage = client.get("/api/openapi.json").get_json()["components"]["schemas"]["UsageBatch"]
    assert usage["properties"]["events"]["items"] == {}


def test_the_search_refuses_a_query_longer_than_the_document_allows(client, session, clock):
    """Found by the fuzzer: GET /api/v1/search cut a longer q to 200 characters silently."""
    admin = session.scalar(select(User).where(User.email == "admin@demo.aifi.nl"))
    token = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=admin.id,
                                             name="search")
    session.commit()
    headers = {"Authorization": f"Bearer {token.token}"}
    too_long = client.get("/api/v1/search", query_string={"q": "Demo" + "x" * 197}, headers=headers)
    assert too_long.status_code == 400
    assert too_long.get_json()["error"]["code"] == "INVALID_REQUEST" and "q" in too_long.get_json()["error"]["fields"]
    assert client.get("/api/v1/search", query_string={"q": "Demo" + "x" * 196},
                      headers=headers).status_code == 200
