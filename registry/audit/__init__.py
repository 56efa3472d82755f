"""Tamper-evident audit trail: entries (NEN 7513), hash chain, signed checkpoints, verification."""
