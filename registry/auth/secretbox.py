"""Sealing the few secrets the registry must be able to read back (an identity provider's client
secret, which it presents to the provider at every sign-in).

Everything the registry only has to *check* is stored as a SHA-256 hash (registry.auth.secrets).
A secret it has to *present* cannot be hashed, so it is sealed with AES-256-GCM under a key derived
from REGISTRY_SECRET_KEY by HKDF (a key of its own, so that the session-signing key is never used
for encryption directly). A copy of the database alone does not reveal the secret. Changing
REGISTRY_SECRET_KEY makes sealed secrets unreadable: an admin then enters them again.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value that cannot be opened: another key, or tampered with."""


def _key(secret_key: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"aifi-registry/{purpose}/{_VERSION}".encode()).derive(secret_key.encode("utf-8"))


def seal(plaintext: str, *, secret_key: str, purpose: str, context: str) -> str:
    """Encrypt ``plaintext``. ``context`` (for example the row it belongs to) is authenticated but
    not encrypted: a sealed value copied to another row does not open there."""
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(_key(secret_key, purpose)).encrypt(nonce, plaintext.encode("utf-8"),
                                                           context.encode("utf-8"))
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + ciphertext).decode('ascii')}"


def unseal(sealed: str, *, secret_key: str, purpose: str, context: str) -> str:
    version, _, body = sealed.partition(".")
    if version != _VERSION or not body:
        raise SealError("not a sealed value of a known version")
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        plaintext = AESGCM(_key(secret_key, purpose)).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                                               context.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise SealError("the sealed value cannot be opened with this key and context") from exc
    return plaintext.decode("utf-8")
