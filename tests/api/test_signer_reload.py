"""After a key rotation, running instances move to the new key (without a restart)."""

import base64
import json

import registry.app
from registry.keys import rotate
from tests.factories import bearer, child_hand, make_world


def _kid(compact: str) -> str:
    header = compact.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_a_running_app_signs_with_the_rotated_key(client, session, clock, settings, monkeypatch):
    world = make_world(session, clock)
    headers = bearer(session, clock, world.gateway)
    first = client.post("/api/v1/decisions", json=child_hand(world.tool.slug, "s1").model_dump(),
                        headers=headers).get_json()
    new = rotate(settings.signing_key_dir)
    monkeypatch.setattr(registry.app, "SIGNER_RECHECK_SECONDS", 0.0)
    second = client.post("/api/v1/decisions", json=child_hand(world.tool.slug, "s2").model_dump(),
                         headers=headers).get_json()
    assert _kid(first["jws"]) != new.kid
    assert _kid(second["jws"]) == new.kid
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert new.kid in published
