"""Typed settings, read from the environment with the ``REGISTRY_`` prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Placeholder secrets that are fine on a developer's laptop and never anywhere else.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
_PLACEHOLDERS = {DEV_SECRET_KEY, "changeme", "change-me", "secret", ""}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///instance/registry.db"
    secret_key: str = DEV_SECRET_KEY
    # Directory holding the registry's Ed25519 signing keys (bundles, decisions, checkpoints).
    signing_key_dir: Path = Path("instance/keys")
    # Terms (contracts, licences, agreements, certificates) are calendar dates in this zone.
    # Named here so it is explicit; only Europe/Amsterdam is accepted, because the decision path,
    # the bundle and the audit viewer must all turn instants into the same term dates.
    timezone: str = "Europe/Amsterdam"
    # Lifetimes, in seconds.
    access_token_ttl: int = Field(default=600, ge=30, le=3600)
    bundle_ttl: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Studies a gateway may route per tool on a bundle alone while the registry is unreachable.
    bundle_offline_allowance: int = Field(default=25, ge=0, le=1000)
    reservation_window: int = Field(default=24 * 3600, ge=60)
    # The audit sequencer signs a checkpoint every this many sealed entries, and at the head when
    # the newest checkpoint is older than this many minutes.
    audit_checkpoint_every: int = Field(default=1000, ge=1)
    audit_checkpoint_minutes: float = Field(default=60, gt=0)
    # Seconds between background sealer passes in each process; 0 = no background sealer (then
    # run `registry audit seal --every N` beside the registry).
    audit_seal_interval: float = Field(default=0, ge=0)
    audit_retention_days: int = Field(default=190, ge=183)  # EU AI Act Art. 26(6): >= six months
    # Size limit for any JSON request body, checked before parsing.
    max_request_bytes: int = Field(default=256 * 1024, ge=1024)
    issuer: str = "http://127.0.0.1:5000"
    # Web sessions end after this many seconds without a request, and after the absolute limit
    # however active they are (a forgotten browser on a ward PC must not stay logged in).
    session_idle_timeout: int = Field(default=30 * 60, ge=60, le=24 * 3600)
    session_absolute_timeout: int = Field(default=12 * 3600, ge=300, le=7 * 24 * 3600)
    # Login throttling: this many failures within the window lock the account (as typed) or the
    # address out until the oldest failure leaves the window.
    login_throttle_window: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    login_max_failures_per_account: int = Field(default=5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=100000)
    # Bearer token that opens /metrics to operators; unset, /metrics is refused.
    metrics_token: str | None = Field(default=None, min_length=32)
    # The CA certificates (PEM files, or folders of *.pem / *.crt) that signatures on uploaded
    # agreements must chain to, e.g. the PKIoverheid roots; separated by the OS path separator
    # (":" here) or commas. None configured: no signature is trusted, so no agreement becomes
    # signed through the registry. Revocation is not checked (no outside calls).
    signature_trust_anchors: Annotated[tuple[Path, ...], NoDecode] = ()

    @field_validator("signature_trust_anchors", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(part.strip()) for chunk in value.split(",") for part in chunk.split(os.pathsep)
                         if part.strip())
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except ZoneInfoNotFoundError as exc:  # pragma: no cover - message path
            raise ValueError(f"unknown time zone {value!r}") from exc
        if value != "Europe/Amsterdam":
            raise ValueError("terms are Europe/Amsterdam calendar dates; no other zone is supported")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> "Settings":
        if self.environment != "development":
            if self.secret_key in _PLACEHOLDERS or len(self.secret_key) < 32:
                raise ValueError(
                    "REGISTRY_SECRET_KEY must be set to a random value of at least 32 characters "
                    "outside development"
                )
            if (self.environment == "production" and self.database_url.startswith("sqlite")
                    and ":memory:" in self.database_url):
                raise ValueError("an in-memory database is not allowed in production")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
