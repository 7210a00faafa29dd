"""Settings: one pydantic-settings class (`HEXDISPATCH_` prefix), built by the app factory."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

UNSAFE_SECRETS = frozenset({"changethis", "secret", "password", "hexdispatch", "test"})


class Settings(BaseSettings):
    """Everything the server reads from its environment.

    Outside ``environment="local"`` the token secret must be set, long and not a well-known
    placeholder: a guessable secret lets anyone mint driver tokens.
    """

    model_config = SettingsConfigDict(env_prefix="HEXDISPATCH_", extra="ignore")

    environment: Literal["local", "staging", "production"] = "local"
    database_url: str | None = None
    token_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    driver_token_ttl_s: int = Field(default=12 * 3600, gt=0)
    h3_resolution: int = Field(default=9, ge=0, le=15)
    console_resolution: int = Field(default=6, ge=0, le=15)
    coalesce_interval_s: float = Field(default=0.25, gt=0)
    ws_max_message_bytes: int = Field(default=64 * 1024, gt=0)
    ws_send_queue: int = Field(default=1000, gt=0)
    ws_keepalive_s: float = Field(default=20.0, gt=0)
    dispatch_window_s: float = Field(default=2.0, gt=0)
    dispatch_auto: bool = True
    """Run dispatch every window in the background (tests turn it off and call the endpoint)."""
    offer_timeout_s: float = Field(default=30.0, gt=0)
    track_flush_rows: int = Field(default=5000, gt=0)
    track_flush_interval_s: float = Field(default=0.2, gt=0)
    tile_url: str | None = None
    redis_url: str | None = None
    """Scale-out (docs/scaling.md): pings go to shard streams and consoles follow cell channels
    in this Redis; unset, the embedded engine runs in this process with no Redis."""
    redis_stream_maxlen: int = Field(default=1_000_000, gt=0)
    request_timeout_s: float = Field(default=1.0, gt=0)
    """Bound on a scale-out request to a shard (console snapshot, nearest)."""
    gc_tuned: bool = False
    """Freeze start-up objects and raise the collector's thresholds: full collections that walk
    every live connection were most of the ping-to-console p99 (benchmarks/RESULTS.md).
    `hexdispatch serve` turns it on; tests leave the interpreter alone."""
    webhook_delivery: bool = False
    """Run the webhook delivery worker in the server (`hexdispatch serve` turns it on; tests
    drive `api.webhook_worker.WebhookWorker` themselves, with their own clock)."""
    webhook_allow_private_hosts: bool = False
    """Let webhook URLs point at loopback / private / link-local hosts (SSRF guard off: local
    development and tests with a loopback receiver only)."""
    webhook_poll_s: float = Field(default=1.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_disable_after: int = Field(default=100, ge=1)
    """Consecutive failed attempts before an endpoint is disabled (about 16 hours of backoff
    at the default policy)."""
    eta_refresh_s: float = Field(default=15.0, gt=0)
    """Least time between two ETA refreshes of one courier's orders (pings come faster)."""
    eta_threshold_s: float = Field(default=30.0, ge=0)
    """An ETA that moved by less is not republished."""
    eta_flush_s: float = Field(default=2.0, gt=0)
    """How often refreshed ETAs are written to the store (off the ping path)."""
    pin_max_failures: int = Field(default=5, ge=1)
    """Wrong delivery PINs per order before its PIN is locked."""
    courier_base_minor: int = Field(default=10_000, ge=0)
    courier_per_km_minor: int = Field(default=2_000, ge=0)
    platform_fee_bps: int = Field(default=1_000, ge=0, le=10_000)
    """The tariff a delivered order is billed with (in the order's currency's minor units):
    the courier earns base + per km of the pickup to drop-off distance."""
    sandbox_callbacks: bool = False
    """Deliver the bundled payment sandboxes' callbacks in-process every second, as a real
    provider would POST them (`hexdispatch serve` turns it on; tests drive them)."""
    payment_callback_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32))
    )
    """Shared secret of the bundled payment sandboxes' signed callbacks."""
    bootstrap_api_key: SecretStr | None = None
    """When set, a tenant ``default`` owning this API key exists from start-up (the embedded
    store forgets everything on exit, so `hexdispatch serve` uses it to hand out a key)."""

    @model_validator(mode="after")
    def _refuse_unsafe_secret(self) -> Settings:
        if self.environment != "local":
            value = self.token_secret.get_secret_value()
            if value.lower() in UNSAFE_SECRETS or len(value) < 32:
                raise ValueError(
                    "HEXDISPATCH_TOKEN_SECRET must be set to at least 32 random characters "
                    f"when environment={self.environment!r}"
                )
        return self
