"""Configuration from QYZMET_* environment variables (and an optional .env file)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QYZMET_", env_file=".env", extra="ignore")

    telegram_token: str | None = None
    telegram_api_url: str | None = None  # e.g. http://127.0.0.1:8081/bot ; None = Telegram's
    database: str = "./var/qyzmet.sqlite3"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    sms_gateway_url: str | None = None  # None = embedded outbox (stored and printed)
    sms_secret: str | None = None
    secret_key: str | None = None
    operators: str = ""
    feed_token: str | None = None
    calendar_overrides: Path | None = None

    # Rules of DESIGN.md, configurable.
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_resend_after_seconds: int = 60
    otp_max_sends_per_hour: int = 5
    consent_ttl_seconds: int = 600
    identity_idle_seconds: int = 1800
    identity_max_seconds: int = 86400
    sweep_interval_seconds: float = 5.0

    # SMS outbox worker: retries with growing backoff (base · 2^n, capped), then failed with the reason;
    # a global pace on outbound SMS (anti-abuse, money) that makes messages wait, never drops them.
    sms_max_attempts: int = 6
    sms_backoff_base_seconds: float = 2.0
    sms_backoff_max_seconds: float = 300.0
    sms_global_per_minute: int = 600
    sms_worker_idle_seconds: float = 5.0
    sms_gateway_timeout_seconds: float = 10.0
    # Replies to inbound SMS (and codes) to one phone per hour; beyond it the SMS is acted on, not answered.
    sms_replies_per_phone_hour: int = 20

    # Telegram pace (handlers/telegram/rate_limit.py): every Bot API call shares one bucket below Telegram's
    # ~30 messages/s; broadcasts use their own lower rate and wait behind citizens' replies.
    telegram_rate: float = 29.0
    telegram_per_chat_interval: float = 1.0
    # Telegram outbox (handlers/telegram/delivery.py): how long a sender holds an envelope before another may
    # take it over (its sender died). Longer than delivering a few messages; short enough to recover quickly.
    telegram_lease_seconds: float = 30.0
    # Broadcasts (bot/core/broadcast.py).
    broadcast_rate: float = 25.0
    broadcast_concurrency: int = 8
    broadcast_page_size: int = 500
    broadcast_progress_seconds: float = 3.0
    broadcast_poll_seconds: float = 2.0

    def operator_ids(self) -> list[int]:
        """QYZMET_OPERATORS as Telegram user ids (comma-separated); ValueError on anything else."""
        from bot.core.staff import parse_user_ids
        return parse_user_ids(self.operators)

    def resolved_secret_key(self) -> bytes:
        """The HMAC key: QYZMET_SECRET_KEY, else one generated once into the data folder."""
        if self.secret_key:
            return self.secret_key.encode()
        if self.database == ":memory:":
            return secrets.token_bytes(32)
        path = Path(self.database).resolve().parent / "secret.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
