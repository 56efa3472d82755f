"""Scoping holds on every hospital-visible route (issue 14), walked from the URL map.

A person of Demo Ziekenhuis Oost holding every role reads every GET route of the web UI and of
the staff API:

- a route that names one object (``<key>``, a deployment id, an object's history) is asked for an
  object of *another* organisation, one the scope rule hides from Oost: the answer is a 404, as if
  it did not exist (never a 403, never the object);
- a route that lists (pages, CSV exports, API lists, search, the matrix) must not name another
  hospital: no name and no URA of a hospital that Oost may not see appears in the answer. The one
  exception is deliberate: a joint framework contract names its buyers (they signed it together),
  so the contract routes may name the hospitals that buy under a contract Oost buys under.

What "another organisation's object" is comes from the rows of each object type that the scope
rule (``registry.scope.restrict``) leaves out for Oost, checked to be non-empty; so the walk tests
that every route applies that one rule, and grows with the URL map.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from registry.actor import Actor
from registry.db.contracts import ContractBuyer, FrameworkContract
from registry.db.organisations import Organisation
from registry.permissions import ROLES
from registry.scope import restrict, scope_of
from registry.services import api_tokens
from registry.services.users import create_user
from registry.workspace import OBJECT_TYPES
from tests.factories import SYSTEM, browser_login
from tests.web.routes import SAMPLE_QUERIES, sample_version

OWN = "Demo Ziekenhuis Oost"
# Routes that answer about the session or an identity provider, not about registry objects.
NOT_OBJECT_ROUTES = {"web.logout", "web.login", "web.sso_start", "web.sso_callback", "api_docs.openapi",
                     "api_docs.docs", "web.sso_provider_edit"}
# The routes that show a joint contract with its buyers.
CONTRACT_ROUTES = {"api.contracts_list", "web.contracts_list", "web.contracts_export"}


@pytest.fixture()
def oost_user(session, clock):  # noqa: ANN001, ANN201
    oost = session.scalar(select(Organisation).where(Organisation.name == OWN))
    user, _ = create_user(session, actor=SYSTEM, clock=clock, roles=list(ROLES), password="scoping-walk-1",
                          email=f"walk.{uuid.uuid4().hex[:6]}@oost.demo.aifi.nl", organisation_id=oost.id)
    session.commit()
    return user


def _foreign(session, user) -> tuple[dict[str, str], list[str], set[str]]:  # noqa: ANN001
    """Per object type, the URL key of a row Oost may not see; the names and URAs of the hospitals
    Oost may not see; and those of its co-buyers (named by the contracts Oost buys under)."""
    scope = scope_of(session, Actor.for_user(user))
    assert not scope.national and scope.kind == "hospital"
    keys = {}
    for key, otype in OBJECT_TYPES.items():
        visible = restrict(otype.statement(), scope, otype.model).subquery()
        pk = list(otype.model.__table__.primary_key.columns)[0]
        hidden = session.scalars(otype.statement().where(pk.not_in(select(visible.c[pk.name]))).limit(1)).first()
        if hidden is not None:
            keys[key] = otype.url_key(hidden)
    visible_orgs = restrict(select(Organisation.id), scope, Organisation).subquery()
    hidden_hospitals = session.scalars(select(Organisation).where(Organisation.kind == "hospital",
                                                                  Organisation.id.not_in(select(visible_orgs)))).all()
    needles = [h.name for h in hidden_hospitals] + [h.ura for h in hidden_hospitals if h.ura]
    own_contracts = restrict(select(FrameworkContract.id), scope, FrameworkContract).subquery()
    co_buyers = session.scalars(select(Organisation).join(ContractBuyer, ContractBuyer.organisation_id == Organisation.id)
                                .where(ContractBuyer.contract_id.in_(select(own_contracts)))).all()
    return keys, needles, {h.name for h in co_buyers} | {h.ura for h in co_buyers if h.ura}


def _object_path(rule, session, keys: dict[str, str]) -> str | None:  # noqa: ANN001
    """The rule's path naming another organisation's object, or None if it names none."""
    path = rule.rule
    parts = path.removeprefix("/api/v1").split("/")
    otype = parts[1] if len(parts) > 1 else ""
    if rule.endpoint in ("web.audit_history", "api.history"):
        return path.split("<")[0] + f"organisations/{keys['organisations']}"
    if rule.endpoint == "web.deployment_edit":
        return path.replace("<int:deployment_id>", keys["deployments"])
    if rule.endpoint == "api.show":  # a decision by its id
        return path.replace("<decision_id>", keys["decisions"])
    if "<key>" not in path:
        return None
    if otype not in keys:
        return None  # every row of this type is visible to a hospital (the tools: public facts)
    path = path.replace("<key>", keys[otype])
    if "<version>" in path:
        path = path.replace("<version>", sample_version(session, keys[otype]))
    return re.sub(r"<int:\w+>|<\w+>", "1", path)


def _rules(app):  # noqa: ANN001, ANN201
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.endpoint.startswith("ops.") \
                or rule.endpoint in NOT_OBJECT_ROUTES or rule.rule.startswith(("/oauth/", "/.well-known/")):
            continue
        yield rule


def test_scoping_holds_on_every_route_that_names_or_lists_objects(app, client, session, clock, oost_user):
    keys, needles, co_buyers = _foreign(session, oost_user)
    # The demo world must give the walk something to hide, or it proves nothing.
    assert {"organisations", "licences", "agreements", "decisions", "users", "gateways"} <= set(keys), keys
    assert "Demo Ziekenhuis Noord" in needles and OWN not in needles
    token = api_tokens.create_personal_token(session, actor=SYSTEM, clock=clock, user_id=oost_user.id,
                                             name="walk").token
    session.commit()
    api = {"Authorization": f"Bearer {token}"}
    named, listed, wrong = 0, 0, []
    for rule in _rules(app):
        is_api = rule.rule.startswith("/api/")
        if not is_api:
            browser_login(client, session, oost_user.email)
        headers = api if is_api else {}
        if rule.arguments:
            path = _object_path(rule, session, keys)
            if path is None:
                continue
            named += 1
            answer = client.get(path, headers=headers)
            if answer.status_code != 404:
                wrong.append((rule.endpoint, path, answer.status_code, "expected 404"))
            continue
        path = rule.rule + SAMPLE_QUERIES.get(rule.endpoint, "")
        if rule.endpoint == "web.search":
            path = "/search?q=Demo Ziekenhuis"
        elif rule.endpoint == "api.search":
            path = "/api/v1/search?q=Demo Ziekenhuis"
        answer = client.get(path, headers=headers)
        if answer.status_code >= 400:
            continue  # a page that needs a query or a form; it shows nothing, so it leaks nothing
        listed += 1
        body = answer.get_data(as_text=True)
        leaked = {n for n in needles if n in body}
        if rule.endpoint in CONTRACT_ROUTES:
            leaked -= co_buyers
        leaked = sorted(leaked)
        if leaked:
            wrong.append((rule.endpoint, path, answer.status_code, f"names {leaked}"))
    assert named >= 25 and listed >= 20, (named, listed)  # a walk of nothing proves nothing
    assert not wrong, "\n".join(map(str, wrong))


def test_a_write_that_would_leave_the_scope_is_refused_and_stores_nothing(session, clock, oost_user):
    """The re-check after a write (services/_rows.py): a hospital's person cannot create a licence
    for another hospital, change another hospital's licence by id, or register an identity provider
    for another organisation — whatever their roles."""
    from sqlalchemy import func

    from registry.db.changes import ChangeRecord
    from registry.db.contracts import Licence
    from registry.services import contracts, identity_providers
    from registry.services.errors import NotFound, ValidationFailed

    actor = Actor.for_user(oost_user)
    noord = session.scalar(select(Organisation).where(Organisation.name == "Demo Ziekenhuis Noord"))
    theirs = session.scalar(select(Licence).where(Licence.hospital_id == noord.id).limit(1))
    before = (session.scalar(select(func.count()).select_from(Licence)),
              session.scalar(select(func.count()).select_from(ChangeRecord)))
    with pytest.raises(ValidationFailed) as refused:
        with session.begin_nested():
            contracts.create_licence(session, actor=actor, clock=clock, reference="WALK-1",
                                     contract_id=theirs.contract_id, hospital_id=noord.id, tool_id=theirs.tool_id,
                                     starts_on=theirs.starts_on, ends_on=theirs.ends_on, quota_limit=10)
    assert "organisation" in refused.value.fields
    with pytest.raises((ValidationFailed, NotFound)):
        with session.begin_nested():
            contracts.amend_licence(session, actor=actor, clock=clock, licence_id=theirs.id,
                                    changes={"quota_limit": 1})
    with pytest.raises(ValidationFailed):
        with session.begin_nested():
            identity_providers.register_identity_provider(
                session, actor=actor, clock=clock, secret_key="k" * 40, organisation_id=noord.id,
                issuer="https://idp.example", client_id="registry", client_secret="provider secret")
    session.expire_all()
    assert (session.scalar(select(func.count()).select_from(Licence)),
            session.scalar(select(func.count()).select_from(ChangeRecord))) == before
    assert session.get(Licence, theirs.id).quota_limit != 1
    # Its own hospital's provider it may register: the rule refuses the other, not the kind.
    oost_options = identity_providers.organisations_without_provider(session, actor=actor)
    assert [o.name for o in oost_options] == [OWN]
