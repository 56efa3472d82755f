"""The registry's Ed25519 signing keys: bundles, decision JWS and audit checkpoints.

Private keys live as PEM files in ``REGISTRY_SIGNING_KEY_DIR`` (never in the database); public
keys are also recorded in ``signing_keys`` so that every instance publishes the same JWKS and a
retired key stays published until the last thing it signed has expired. We sign with the fully
specified JWS algorithm name ``Ed25519`` (RFC 9864), not the deprecated ``EdDSA``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import OKPKey

ALGORITHM = "Ed25519"
# Accepted when verifying our own signatures and gateways' assertions (RFC 9864 deprecates EdDSA).
ACCEPTED_ALGORITHMS = ["Ed25519", "EdDSA", "ES256"]


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: OKPKey  # private

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        jwk.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return jwk

    def sign(self, payload: dict[str, Any] | bytes, typ: str | None = None) -> str:
        """A compact JWS over ``payload`` (canonical JSON when given a dict)."""
        data = payload if isinstance(payload, bytes) else canonical_json(payload)
        header = {"alg": ALGORITHM, "kid": self.kid}
        if typ:
            header["typ"] = typ
        return jws.serialize_compact(header, data, self.key, algorithms=[ALGORITHM])


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _kid_for(private: Ed25519PrivateKey) -> str:
    okp = OKPKey.import_key(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return okp.thumbprint()[:16]


def load_or_create(directory: Path) -> SigningKey:
    """The current signing key: the newest ``*.pem`` in ``directory``, created if there is none.

    Several server workers start at once on a fresh directory: the first to place the file wins,
    and the others load its key (they never see a half-written file, see :func:`_write_new`)."""
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        pems = sorted(directory.glob("ed25519-*.pem"))
        if pems:
            pem = pems[-1].read_bytes()
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{pems[-1]} is not an Ed25519 private key")
            break
        try:
            # Always number 1 here, never "one above the highest": a worker that found the
            # directory empty must not create a second key because another one's first key
            # appeared between its two looks at the directory.
            private, pem = _write_new(directory, number=1)
            break
        except FileExistsError:
            continue  # another worker placed the first key a moment ago: load that one
    key = OKPKey.import_key(pem)
    return SigningKey(kid=_kid_for(private), key=key)


def rotate(directory: Path) -> SigningKey:
    """Create a new key; the previous one stays on disk (and in the JWKS) until retired."""
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            private, pem = _write_new(directory, number=_next_number(directory))
            break
        except FileExistsError:
            continue  # another rotation took that number: take the next one
    return SigningKey(kid=_kid_for(private), key=OKPKey.import_key(pem))


def _next_number(directory: Path) -> int:
    numbers = [int(p.stem.split("-")[1]) for p in directory.glob("ed25519-*.pem")
               if p.stem.split("-")[1].isdigit()]
    return max(numbers, default=0) + 1


def _write_new(directory: Path, number: int) -> tuple[Ed25519PrivateKey, bytes]:
    """Write a new private key as ``ed25519-<number>.pem``; FileExistsError if that name is taken.

    Files are ordered by that number, never by a timestamp: a wall clock and an injected clock
    may disagree, and "newest" must mean "created last".
    """
    path = directory / f"ed25519-{number:06d}.pem"
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Owner-only from the start: never a moment where the key is world-readable. Written under a
    # name the glob does not match, then linked into place: the link either creates the final
    # name whole or fails (FileExistsError) when another process got there first.
    tmp = directory / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return private, pem


def load_all(directory: Path) -> list[SigningKey]:
    """Every key on disk, oldest first (to publish the retired ones too)."""
    out = []
    for pem_path in sorted(directory.glob("ed25519-*.pem")):
        pem = pem_path.read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        if isinstance(private, Ed25519PrivateKey):
            out.append(SigningKey(kid=_kid_for(private), key=OKPKey.import_key(pem)))
    return out
