"""Secrets and tokens: generated with a recognisable prefix, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Prefixes make a leaked value recognisable to secret scanners and to people.
CLIENT_SECRET_PREFIX = "aifi_cs_"
ACCESS_TOKEN_PREFIX = "aifi_at_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def secret_matches(value: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_secret(value), stored_hash)
