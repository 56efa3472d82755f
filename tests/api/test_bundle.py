"""GET /api/v1/bundle and /.well-known/jwks.json, verified with `cryptography` alone (not joserfc,
which signed them), and the decision JWS."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.auth.jwks import rotate_signing_key
from registry.services import contracts
from tests.factories import SYSTEM, bearer, child_hand, make_world


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(client, token: str) -> tuple[dict, dict]:
    """Check a compact JWS against the published JWKS with plain Ed25519; return (header, payload)."""
    header_b64, payload_b64, sig_b64 = token.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "Ed25519"
    jwks = client.get("/.well-known/jwks.json").get_json()["keys"]
    jwk = next(k for k in jwks if k["kid"] == header["kid"])
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and "d" not in jwk
    public = Ed25519PublicKey.from_public_bytes(_b64(jwk["x"]))
    public.verify(_b64(sig_b64), f"{header_b64}.{payload_b64}".encode())  # raises if forged
    return header, json.loads(_b64(payload_b64))


def _get(client, session, clock, world, scope="bundle:read", **headers):  # noqa: ANN202
    return client.get("/api/v1/bundle", headers={**bearer(session, clock, world.gateway, scope), **headers})


def test_bundle_is_signed_and_lists_the_routable_tool(client, session, clock, settings):
    world = make_world(session, clock, quota_limit=100)
    response = _get(client, session, clock, world)
    assert response.status_code == 200
    assert response.mimetype == "application/jose"
    header, payload = verify(client, response.get_data(as_text=True))
    assert header["typ"] == "aifi-bundle+jwt"
    assert payload["iss"] == settings.issuer and payload["sub"] == world.gateway.client_id
    assert payload["hospital"] == world.hospital.ura
    assert payload["policy_version"].startswith("sha256:")
    assert payload["iat"] <= clock.now().timestamp() < payload["exp"] <= payload["iat"] + settings.bundle_ttl
    assert payload["tools"] == [{
        "tool": world.tool.slug, "version": "1.0", "purposes": ["clinical-care"],
        "intended_use": world.version.intended_use,
        "until": "2026-12-31",  # licence and contract end; the agreement is open-ended
        "offline_allowance": 25,
    }]


def test_tampered_payload_is_detected(client, session, clock):
    world = make_world(session, clock)
    token = _get(client, session, clock, world).get_data(as_text=True)
    header_b64, payload_b64, sig_b64 = token.split(".")
    payload = json.loads(_b64(payload_b64))
    payload["tools"][0]["offline_allowance"] = 10_000
    forged_b64 = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        verify(client, f"{header_b64}.{forged_b64}.{sig_b64}")


def test_exp_is_never_after_the_earliest_term_end(client, session, clock):
    """Licence ends today (inclusive, Amsterdam): the bundle dies at midnight Amsterdam time."""
    clock.current = datetime(2026, 6, 1, 21, 30, tzinfo=timezone.utc)  # 23:30 CEST
    world = make_world(session, clock, licence_term=(date(2026, 1, 1), date(2026, 6, 1)))
    _, payload = verify(client, _get(client, session, clock, world).get_data(as_text=True))
    assert payload["tools"][0]["until"] == "2026-06-01"
    midnight_amsterdam = datetime(2026, 6, 1, 22, 0, tzinfo=timezone.utc)
    assert payload["exp"] == int(midnight_amsterdam.timestamp())


def test_certificate_expiry_bounds_until(client, session, clock):
    world = make_world(session, clock, certificate_expires_on=date(2026, 7, 15))
    _, payload = verify(client, _get(client, session, clock, world).get_data(as_text=True))
    assert payload["tools"][0]["until"] == "2026-07-15"


def test_allowance_is_bounded_by_remaining_quota_and_exhausted_tools_are_left_out(
        client, session, clock, policy_engine):
    world = make_world(session, clock, quota_limit=2)
    _, payload = verify(client, _get(client, session, clock, world).get_data(as_text=True))
    assert payload["tools"][0]["offline_allowance"] == 2
    from registry.services.decisions import decide
    for n in range(2):
        decide(session, actor=world.actor, clock=clock, engine=policy_engine,
               request=child_hand(world.tool.slug, study_key=f"s-{n}"))
    session.commit()
    _, payload = verify(client, _get(client, session, clock, world).get_data(as_text=True))
    assert payload["tools"] == []


def test_terms_not_in_force_give_an_empty_bundle(client, session, clock):
    world = make_world(session, clock, agreement_status="in_review")
    _, payload = verify(client, _get(client, session, clock, world).get_data(as_text=True))
    assert payload["tools"] == []


def test_etag_and_if_none_match(client, session, clock):
    world = make_world(session, clock)
    first = _get(client, session, clock, world)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = _get(client, session, clock, world, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    # The same terms a minute later: the very same bytes.
    clock.advance(minutes=1)
    assert _get(client, session, clock, world).get_data() == first.get_data()
    # A change of terms changes the bundle: no 304 for the old tag.
    contracts.set_licence_status(session, actor=SYSTEM, clock=clock, licence_id=world.licence.id,
                                 status="suspended", reason="unpaid")
    session.commit()
    changed = _get(client, session, clock, world, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert verify(client, changed.get_data(as_text=True))[1]["tools"] == []


def test_bundle_needs_the_bundle_scope(client, session, clock):
    world = make_world(session, clock)
    assert _get(client, session, clock, world, scope="routing:decide").status_code == 403
    assert client.get("/api/v1/bundle").status_code == 401


def test_jwks_keeps_the_old_key_until_its_last_bundle_expired(client, session, clock, settings):
    world = make_world(session, clock)
    old_header, _ = verify(client, _get(client, session, clock, world).get_data(as_text=True))
    new = rotate_signing_key(session, actor=SYSTEM, clock=clock,
                             directory=settings.signing_key_dir,
                             publish_for=settings.bundle_ttl)
    session.commit()
    from sqlalchemy import select

    from registry.db.changes import ChangeRecord
    record = session.scalar(select(ChangeRecord).where(ChangeRecord.object_type == "signing_keys",
                                                       ChangeRecord.object_id == new.kid))
    assert record.action == "rotate" and record.actor == SYSTEM.ref
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert kids == {old_header["kid"], new.kid}
    clock.advance(seconds=settings.bundle_ttl - 1)
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert old_header["kid"] in kids
    clock.advance(seconds=2)
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert kids == {new.kid}


def test_cli_keys_rotate(fresh_engine, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from registry.cli import main
    from registry.db.migrate import upgrade
    from registry.keys import load_or_create

    upgrade(fresh_engine)
    load_or_create(tmp_path / "keys")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", fresh_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("REGISTRY_SIGNING_KEY_DIR", str(tmp_path / "keys"))
    result = CliRunner().invoke(main, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "keys").glob("ed25519-*.pem"))) == 2
    with fresh_engine.connect() as conn:
        from sqlalchemy import text
        rows = conn.execute(text("SELECT kid, retired_at FROM signing_keys")).all()
    assert len(rows) == 2 and sum(r.retired_at is not None for r in rows) == 1


def test_decision_answers_carry_a_verifiable_jws(client, session, clock):
    world = make_world(session, clock)
    response = client.post("/api/v1/decisions", json=child_hand(world.tool.slug).model_dump(
        mode="json", exclude_none=True), headers=bearer(session, clock, world.gateway))
    body = response.get_json()
    assert body["decision"] == "permit"
    header, signed = verify(client, body.pop("jws"))
    assert header["typ"] == "aifi-decision+jwt"
    assert signed == body
