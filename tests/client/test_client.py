"""registry.client against a real registry on a loopback port: tokens (client_secret_basic and
private_key_jwt), decisions with retries, usage in batches, and offline decisions from a verified
bundle that fail closed (expiry, tampering, allowance, purpose, intended use)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from joserfc.jwk import OKPKey
from sqlalchemy import select

from registry.client import BundleInvalid, RegistryClient, RegistryUnavailable
from registry.client import client as client_module
from registry.db.decisions import Decision, UsageEvent
from registry.services import gateways
from tests.factories import SYSTEM, make_world

CHILD_HAND = {"modality": "DX", "body_part": "HAND", "patient_age_years": 9.5, "patient_sex": "M"}


def test_the_client_imports_no_server_module():
    code = ("import sys, registry.client\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('flask', 'sqlalchemy', 'sqlmodel', 'cedarpy', 'pydantic', 'alembic', 'authlib') "
            "or m.startswith(('registry.services', 'registry.db', 'registry.api', 'registry.app', "
            "'registry.policy', 'registry.domain', 'registry.auth', 'registry.audit')))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == ""


@pytest.fixture
def world(session, clock):
    w = make_world(session, clock, purposes=("clinical-care", "quality-assurance"))
    session.commit()
    return w


def secret_client(session, clock, live, world, **kw):
    secret = gateways.add_credential(session, actor=SYSTEM, clock=clock, gateway=world.gateway,
                                     public_jwk=None)
    session.commit()
    kw.setdefault("backoff", 0.01)
    return RegistryClient(live.url, world.gateway.client_id, client_secret=secret, now=clock.now, **kw)


def study(key, **changes):
    return dict(CHILD_HAND, study_key=key, **changes)


def stored(session, decision_id):
    session.expire_all()
    return session.get(Decision, decision_id)


def test_secret_basic_decide_report_and_flush(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert d.permit and d.decision_id and not d.offline
    denied = c.decide(tool=world.tool.slug, purpose="research", study=study("s2"))
    assert not denied.permit and denied.reasons[0]["code"] == "PURPOSE_NOT_COVERED"
    c.report(d, "completed")
    assert c.pending == 1
    result = c.flush()
    assert (result.accepted, result.duplicates, result.pending) == (1, 0, 0)
    assert stored(session, d.decision_id).reservation == "confirmed"


def test_report_feedback_counts_once(session, clock, live, world):
    from registry.client import RegistryError

    c = secret_client(session, clock, live, world)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("fb1"))
    first = c.report_feedback(d, assessor="r-7", assessment="disagree", category="measurement")
    assert first["duplicate"] is False and first["decision_id"] == d.decision_id
    again = c.report_feedback(d.decision_id, assessor="r-7", assessment="agree")
    assert again == dict(first, duplicate=True)
    with pytest.raises(RegistryError) as refused:
        c.report_feedback(d, assessor="dr.jansen@example.org", assessment="agree")
    assert refused.value.status == 400


def test_private_key_jwt(session, clock, live, world):
    key = OKPKey.generate_key("Ed25519", private=True)
    gateways.add_credential(session, actor=SYSTEM, clock=clock, gateway=world.gateway,
                            public_jwk=key.as_dict(private=False))
    session.commit()
    c = RegistryClient(live.url, world.gateway.client_id, private_key=key.as_dict(private=True),
                       now=clock.now)
    assert c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1")).permit
    # A second client (a restarted gateway) gets its own token with a fresh assertion (new jti).
    again = RegistryClient(live.url, world.gateway.client_id, private_key=key, now=clock.now)
    assert again.access_token() != c.access_token()


def test_wrong_secret_is_an_error_not_an_offline_permit(session, clock, live, world):
    from registry.client import RegistryError

    c = RegistryClient(live.url, world.gateway.client_id, client_secret="aifi_cs_wrong", now=clock.now)
    with pytest.raises(RegistryError) as exc:
        c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert exc.value.status == 401


def test_retries_find_the_same_decision(session, clock, live, world):
    c = secret_client(session, clock, live, world, retries=3)
    first = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    live.fail_next = 2  # two 503s, then the registry answers
    again = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert again.decision_id == first.decision_id and not again.offline
    assert again.raw["replayed"] is True


def test_an_expired_token_is_replaced(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    token = c.access_token()
    clock.advance(seconds=700)  # the registry's clock: the token is now expired there
    assert c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s2")).permit
    assert c.access_token() != token


def test_usage_in_batches_and_a_resend_counts_once(session, clock, live, world, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_BATCH", 3)
    c = secret_client(session, clock, live, world)
    ds = [c.decide(tool=world.tool.slug, purpose="clinical-care", study=study(f"s{i}"))
          for i in range(7)]
    for i, d in enumerate(ds):
        c.report(d, "completed" if i % 2 == 0 else "failed")
    sent = list(c._queue)
    live.unavailable.add("/api/v1/usage")
    assert c.flush().pending == 7  # kept while the registry is down
    live.unavailable.clear()
    assert (c.flush().accepted, c.pending) == (7, 0)
    c._queue.extend(sent)  # as if the answer to the last flush had been lost
    assert c.flush().duplicates == 7
    n = session.scalar(select(__import__("sqlalchemy").func.count()).select_from(UsageEvent)
                       .where(UsageEvent.hospital_id == world.hospital.id))
    assert n == 7


# -- offline from the bundle ------------------------------------------------------------------------

def go_offline(live):
    live.unavailable.update({"/api/", "/oauth/"})


def test_offline_decisions_from_the_verified_bundle(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    payload = c.refresh_bundle()
    entry = next(t for t in payload["tools"] if t["tool"] == world.tool.slug)
    assert entry["purposes"] == ["clinical-care", "quality-assurance"]
    go_offline(live)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert d.permit and d.offline and d.decision_id is None
    # A retry offline is the same decision and uses no more of the allowance.
    assert c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1")) is d
    too_old = c.decide(tool=world.tool.slug, purpose="clinical-care",
                       study=study("s2", patient_age_years=25))
    no_part = c.decide(tool=world.tool.slug, purpose="clinical-care",
                       study={k: v for k, v in study("s3").items() if k != "body_part"})
    research = c.decide(tool=world.tool.slug, purpose="research", study=study("s4"))
    unknown = c.decide(tool="not-licensed", purpose="clinical-care", study=study("s5"))
    assert [x.reasons[0]["code"] for x in (too_old, no_part, research, unknown)] == [
        "OUTSIDE_INTENDED_USE", "OUTSIDE_INTENDED_USE", "PURPOSE_NOT_COVERED", "TOOL_NOT_IN_BUNDLE"]
    assert not any(x.permit for x in (too_old, no_part, research, unknown))


def test_connection_refused_also_decides_offline(session, clock, live, world):
    c = secret_client(session, clock, live, world, retries=1, timeout=2)
    c.refresh_bundle()
    live.stop()
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert d.permit and d.offline


def test_without_a_bundle_offline_is_a_deny(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    go_offline(live)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert not d.permit and d.reasons[0]["code"] == "NO_VERIFIED_BUNDLE"


def test_offline_refuses_after_the_bundle_expires(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    payload = c.refresh_bundle()
    go_offline(live)
    assert c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1")).permit
    clock.current = __import__("datetime").datetime.fromtimestamp(payload["exp"], clock.current.tzinfo)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s2"))
    assert not d.permit and d.reasons[0]["code"] == "BUNDLE_EXPIRED"


def test_offline_allowance_is_used_up(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    allowance = next(t for t in c.refresh_bundle()["tools"]
                     if t["tool"] == world.tool.slug)["offline_allowance"]
    assert allowance > 0
    go_offline(live)
    answers = [c.decide(tool=world.tool.slug, purpose="clinical-care", study=study(f"s{i}"))
               for i in range(allowance + 1)]
    assert all(a.permit for a in answers[:-1])
    assert answers[-1].reasons[0]["code"] == "OFFLINE_ALLOWANCE_USED"


def _sign(live, payload):
    reg = live.app.extensions["registry"]
    return reg.signer.sign(payload, typ="aifi-bundle+jwt")


def test_a_tampered_bundle_is_refused_and_never_used(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    token = c.refresh_bundle() and c._bundle_jws
    header, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for t in payload["tools"]:
        t["offline_allowance"] = 10_000
        t["purposes"].append("research")
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(BundleInvalid):
        c.load_bundle(f"{header}.{forged}.{sig}")
    # Signed by a key the registry does not publish: refused too.
    other = OKPKey.generate_key("Ed25519", private=True)
    from joserfc import jws
    stranger = jws.serialize_compact({"alg": "Ed25519", "kid": "not-ours", "typ": "aifi-bundle+jwt"},
                                     json.dumps(payload).encode(), other, algorithms=["Ed25519"])
    with pytest.raises(BundleInvalid):
        c.load_bundle(stranger)
    # For another gateway, or from another issuer, or expired: refused although well signed.
    for change in ({"sub": "gw_someone_else"}, {"iss": "https://evil.example"},
                   {"exp": int(clock.now().timestamp()) - 1}):
        with pytest.raises(BundleInvalid):
            c.load_bundle(_sign(live, dict(payload, **change)))
    go_offline(live)
    research = c.decide(tool=world.tool.slug, purpose="research", study=study("s1"))
    assert not research.permit  # the genuine bundle stays in force, not the forged one


def test_bundle_until_date_fails_closed(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    payload = c.refresh_bundle()
    tools = [dict(t, until="2026-05-31") for t in payload["tools"]]
    c.load_bundle(_sign(live, dict(payload, tools=tools)))
    go_offline(live)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    assert d.reasons[0]["code"] == "TERMS_ENDED"


def test_the_bundle_is_revalidated_with_its_etag(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    statuses = []
    c.http.hooks["response"].append(lambda r, *a, **k: statuses.append((r.request.path_url, r.status_code)))
    first = c.refresh_bundle()
    assert c.refresh_bundle() == first
    bundle_calls = [s for p, s in statuses if p == "/api/v1/bundle"]
    assert bundle_calls == [200, 304]


def test_offline_usage_is_regularised_when_the_registry_is_back(session, clock, live, world):
    c = secret_client(session, clock, live, world)
    c.refresh_bundle()
    go_offline(live)
    d = c.decide(tool=world.tool.slug, purpose="clinical-care", study=study("s1"))
    c.report(d, "completed")
    assert c.flush().pending == 0 and c.offline_records  # nothing sendable yet
    live.unavailable.clear()
    result = c.flush()
    assert result.accepted == 1 and not c.offline_records
    row = session.scalar(select(Decision).where(Decision.study_key == "s1",
                                                Decision.hospital_id == world.hospital.id))
    assert row.reservation == "confirmed"
