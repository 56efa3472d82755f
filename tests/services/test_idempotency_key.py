"""The idempotency key's recipe (a gap the mutation run of services/decisions.py found:
docs/testing.md). Who may decide, and that a key is per hospital: test_decide_scope.py."""

from __future__ import annotations

import hashlib

from registry.services import decisions


def test_the_idempotency_key_is_stable_across_versions():
    """Keys are stored with every permit: a retry after an upgrade must find the permit made
    before it, so the key's recipe is part of the stored data's meaning."""
    expected = hashlib.sha256("7\x1fbonexpert\x1fclinical-care\x1fstudy-1".encode()).hexdigest()
    assert decisions.idempotency_key(7, "bonexpert", "clinical-care", "study-1") == expected
    assert decisions.idempotency_key(8, "bonexpert", "clinical-care", "study-1") != expected
