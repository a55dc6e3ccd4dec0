"""Configuration from QYZMET_* environment variables (and an optional .env file)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import is_postgres

# Ranges: a value outside them is refused at start with the variable's name (see ConfigError), instead of a
# bot that never expires a code, never retries, or divides by a zero rate.
Positive = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QYZMET_", env_file=".env", extra="ignore")

    telegram_token: str | None = None
    telegram_api_url: str | None = None  # e.g. http://127.0.0.1:8081/bot ; None = Telegram's
    database: str = "./var/qyzmet.sqlite3"
    # PostgreSQL: the most connections one process opens (a unit of work holds one while it writes; reads outside
    # a unit take one for a moment). Mind the server's max_connections across every replica and worker.
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8080  # 0: any free port (tests)
    sms_gateway_url: str | None = None  # the HTTP gateway of DESIGN.md
    # "print": no gateway, every SMS is printed on stdout (the demo, a trial run). `run` refuses to start with
    # neither this nor a gateway URL: codes and notices would silently go nowhere. "smpp": SMPP 3.4 to an
    # operator's or aggregator's SMSC (bot/gateways/smpp_gateway.py) with the smpp_* settings below.
    sms_gateway: Literal["http", "print", "smpp"] | None = None
    # SMPP 3.4: every process that sends SMS binds once as a transceiver (SMSCs allow several binds per
    # system id); the password is a secret (masked in every log line, never printed).
    smpp_host: str | None = None
    smpp_port: Annotated[int, Field(ge=1, le=65535)] = 2775
    smpp_system_id: str | None = None
    smpp_password: str | None = None
    smpp_system_type: str = ""
    # The sender shown on the phone: an alphanumeric name (≤ 11 characters, e.g. "Qyzmet") or a number.
    smpp_source: str | None = None
    # Reconnecting after a lost or refused bind: base · 2^n seconds, capped.
    smpp_reconnect_base_seconds: Positive = 1.0
    smpp_reconnect_max_seconds: Positive = 60.0
    sms_secret: str | None = None
    secret_key: str | None = None
    operators: str = ""
    feed_token: str | None = None
    # Where people reach the HTTP server from outside (the certificate verification page the PDF's QR code
    # links to), e.g. https://qyzmet.example.kz; None: http://QYZMET_HTTP_HOST:QYZMET_HTTP_PORT.
    public_url: str | None = None
    # The issuer's ECDSA P-256 key and its X.509 certificate (bot/gateways/issuer.py), each a PEM file's path or
    # the PEM text itself: they sign every certificate's PDF and QR payload. Both or neither; neither: a demo
    # issuer derived from the secret key (the same on every replica that shares QYZMET_SECRET_KEY).
    signing_key: str | None = None
    signing_cert: str | None = None
    # The reverse proxies in front of the HTTP server (addresses or networks, comma-separated, as gunicorn's
    # forwarded_allow_ips): only a request from one of them has its X-Forwarded-For read, to find the real client
    # (the per-client limits of the verification page). Empty: the connecting address is the client.
    trusted_proxies: str = ""
    calendar_overrides: Path | None = None
    log_format: Literal["text", "json"] = "text"
    # The Redis that replicas share (bot/redis_client.py): the one Telegram pace, per-person locks, the updates
    # already answered. None: each is kept in the process (one replica). Every key starts with redis_prefix
    # (several bots on one Redis).
    redis_url: str | None = None
    redis_prefix: str = "qyzmet:"
    # How long `run` keeps trying to reach Telegram at start before giving up; 0 = until it is stopped.
    telegram_start_wait_seconds: NonNegative = 0.0
    # Webhook mode (unset: long polling). Telegram posts updates to this public URL; the bot's HTTP server takes
    # them on the URL's path, and only with the secret in X-Telegram-Bot-Api-Secret-Token
    # (handlers/http/telegram_webhook.py).
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_webhook_max_connections: Annotated[int, Field(ge=1, le=100)] = 40  # Telegram's requests at once

    # State systems (DESIGN.md "State systems"; bot/gateways/): each is off — the embedded tables, or nothing
    # sent — while its URL is unset. One bearer token (or a client certificate) for all of them.
    directory_url: str | None = None
    registry_url: str | None = None
    monitoring_url: str | None = None
    complaints_url: str | None = None
    state_token: str | None = None
    state_client_cert: Path | None = None  # PEM certificate (with its key, or the key in …_CLIENT_KEY)
    state_client_key: Path | None = None
    # One call: its timeout and how many tries (a lookup in a conversation must not hold it for long: what
    # cannot be answered now is asked again from a queue). The circuit breaker: after this many failures in a
    # row a system is not called for …_BREAKER_SECONDS, so a dead system costs a conversation nothing.
    state_timeout_seconds: Positive = 3.0
    state_attempts: PositiveInt = 2
    state_breaker_failures: PositiveInt = 5
    state_breaker_seconds: Positive = 30.0
    # Queues (pending registry questions, stage and complaint posts): growing pauses between tries, capped.
    state_retry_base_seconds: Positive = 5.0
    state_retry_max_seconds: Positive = 300.0
    state_worker_idle_seconds: Positive = 5.0

    # Rules of DESIGN.md, configurable.
    otp_ttl_seconds: PositiveInt = 300
    otp_max_attempts: PositiveInt = 5
    otp_resend_after_seconds: Annotated[int, Field(ge=0)] = 60
    otp_max_sends_per_hour: PositiveInt = 5
    consent_ttl_seconds: PositiveInt = 600
    identity_idle_seconds: PositiveInt = 1800
    identity_max_seconds: PositiveInt = 86400
    sweep_interval_seconds: Positive = 5.0

    # SMS outbox worker: retries with growing backoff (base · 2^n, capped), then failed with the reason;
    # a global pace on outbound SMS (anti-abuse, money) that makes messages wait, never drops them.
    sms_max_attempts: PositiveInt = 6
    sms_backoff_base_seconds: Positive = 2.0
    sms_backoff_max_seconds: Positive = 300.0
    sms_global_per_minute: PositiveInt = 600
    sms_worker_idle_seconds: Positive = 5.0
    sms_gateway_timeout_seconds: Positive = 10.0
    # Replies to inbound SMS (and codes) to one phone per hour; beyond it the SMS is acted on, not answered.
    sms_replies_per_phone_hour: PositiveInt = 20

    # Telegram pace (bot/gateways/telegram_rate_limit.py): every Bot API call shares one bucket below Telegram's
    # ~30 messages/s; broadcasts use their own lower rate and wait behind citizens' replies. With QYZMET_REDIS_URL
    # these rates hold for all replicas together (bot/gateways/telegram_redis_pace.py).
    telegram_rate: Positive = 29.0
    telegram_per_chat_interval: NonNegative = 1.0
    # Telegram outbox (handlers/telegram/delivery.py): how long a sender holds an envelope before another may
    # take it over (its sender died). Longer than delivering a few messages; short enough to recover quickly.
    telegram_lease_seconds: Positive = 30.0
    # How often its worker looks for due envelopes that no commit of its own process announced (written by a web
    # replica or another worker, back from a retry, or left by a sender that died).
    telegram_worker_idle_seconds: Positive = 2.0
    # Broadcasts (bot/core/broadcast.py).
    broadcast_rate: Positive = 25.0
    broadcast_concurrency: PositiveInt = 8
    broadcast_page_size: PositiveInt = 500
    broadcast_progress_seconds: Positive = 3.0
    broadcast_poll_seconds: Positive = 2.0
    # Readiness (GET /health/ready): how long the database may take to answer, and how old the last successful
    # getUpdates may be (a long poll returns at least every poll timeout, 10 s, even when nobody writes).
    health_db_timeout_seconds: Positive = 2.0
    health_poll_max_age_seconds: Positive = 60.0

    @field_validator("telegram_token", "telegram_api_url", "sms_gateway_url", "sms_secret", "secret_key",
                     "feed_token", "calendar_overrides", "sms_gateway", "public_url", "signing_key", "signing_cert",
                     "directory_url", "registry_url", "monitoring_url", "complaints_url", "state_token",
                     "state_client_cert", "state_client_key", "telegram_webhook_url", "telegram_webhook_secret",
                     "redis_url", "smpp_host", "smpp_system_id", "smpp_password", "smpp_source", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``QYZMET_X=`` (set but empty, as .env templates and compose files leave them) means "not set"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_api_url", "sms_gateway_url", "public_url", "directory_url", "registry_url",
                     "monitoring_url", "complaints_url", "telegram_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 — raises on a port that is not a number (http://host:abc/)
        except ValueError:
            raise ValueError("is not a valid URL (a port must be a number)") from None
        if not parts.hostname:
            raise ValueError("has no host (e.g. https://sms.example.kz/send)")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _bot_api_url(cls, value: str | None) -> str | None:
        # The token is appended to this URL as it is (…/bot<token>/getMe): without the /bot the token would land
        # in the host's port, and every call would fail as if Telegram were down.
        if value is not None and not urlsplit(value).path.endswith("/bot"):
            raise ValueError("must end with /bot, the token follows it (e.g. http://127.0.0.1:8081/bot)")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        # The form @BotFather gives: the bot's numeric id, a colon, the secret part. Checked here so that a
        # mistyped token is a configuration error at start, not "Telegram is not reachable" retried for ever.
        if value is None:
            return None
        if not re.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", value.strip()):
            raise ValueError("is not a bot token: it looks like 123456789:AAE… (the bot's id, a colon, then the "
                             "secret @BotFather gave)")
        return value.strip()  # a line break pasted with it would otherwise end up in every Bot API URL

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{item.strip()!r} is not an IP address or network (e.g. 10.0.0.5, "
                                     "172.16.0.0/12)") from None
        return value

    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        """QYZMET_TRUSTED_PROXIES as networks (a single address is a /32 or /128)."""
        return [ipaddress.ip_network(item.strip(), strict=False) for item in self.trusted_proxies.split(",")
                if item.strip()]

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ or - (what Telegram accepts)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("smpp_system_id", "smpp_password", "smpp_system_type", "smpp_source")
    @classmethod
    def _smpp_lengths(cls, value: str | None, info: Any) -> str | None:
        """SMPP 3.4's field sizes (C-octet strings, the NUL included): the bind would be refused, or never sent."""
        most = {"smpp_system_id": 15, "smpp_password": 8, "smpp_system_type": 12, "smpp_source": 20}[info.field_name]
        if value is not None and (len(value.encode()) > most or not value.isascii() or not value.isprintable()):
            raise ValueError(f"SMPP 3.4 allows at most {most} printable ASCII characters here")
        if info.field_name == "smpp_source" and value and not value.lstrip("+").isdigit() and len(value) > 11:
            raise ValueError("an alphanumeric sender name is at most 11 characters")
        return value

    @field_validator("http_host", "database")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.sms_backoff_max_seconds < self.sms_backoff_base_seconds:
            raise ValueError("QYZMET_SMS_BACKOFF_MAX_SECONDS must be at least QYZMET_SMS_BACKOFF_BASE_SECONDS")
        if self.identity_max_seconds < self.identity_idle_seconds:
            raise ValueError("QYZMET_IDENTITY_MAX_SECONDS must be at least QYZMET_IDENTITY_IDLE_SECONDS")
        if self.state_retry_max_seconds < self.state_retry_base_seconds:
            raise ValueError("QYZMET_STATE_RETRY_MAX_SECONDS must be at least QYZMET_STATE_RETRY_BASE_SECONDS")
        if (self.signing_key is None) != (self.signing_cert is None):
            raise ValueError("QYZMET_SIGNING_KEY and QYZMET_SIGNING_CERT are set together (the issuer's key and its "
                             "certificate), or neither (a demo issuer derived from QYZMET_SECRET_KEY)")
        if self.state_client_key is not None and self.state_client_cert is None:
            raise ValueError("QYZMET_STATE_CLIENT_KEY is set without QYZMET_STATE_CLIENT_CERT")
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            # Without it anyone who finds the URL could write to the bot as any person.
            raise ValueError("QYZMET_TELEGRAM_WEBHOOK_SECRET is required with QYZMET_TELEGRAM_WEBHOOK_URL "
                             "(e.g. the output of: openssl rand -hex 32)")
        if self.sms_gateway == "smpp":
            missing = [f"QYZMET_{name.upper()}" for name in ("smpp_host", "smpp_system_id", "smpp_password",
                                                               "smpp_source") if not getattr(self, name)]
            if missing:
                raise ValueError(f"QYZMET_SMS_GATEWAY=smpp needs {', '.join(missing)} (the SMSC's address, the "
                                 "account it gave you, and the sender name or number)")
            if self.sms_gateway_url:
                raise ValueError("QYZMET_SMS_GATEWAY=smpp and QYZMET_SMS_GATEWAY_URL are both set: unset one")
        if self.smpp_reconnect_max_seconds < self.smpp_reconnect_base_seconds:
            raise ValueError("QYZMET_SMPP_RECONNECT_MAX_SECONDS must be at least QYZMET_SMPP_RECONNECT_BASE_SECONDS")
        if self.uses_postgres() and not self.secret_key:
            # A key generated per machine would make a code issued by one replica fail on another.
            raise ValueError("QYZMET_SECRET_KEY is required when QYZMET_DATABASE is a postgresql:// URL: every "
                             "replica must use the same key (e.g. the output of: openssl rand -hex 32)")
        return self

    def uses_postgres(self) -> bool:
        """QYZMET_DATABASE is a PostgreSQL server (a postgresql:// URL), not a SQLite file."""
        return is_postgres(self.database)

    def operator_ids(self) -> list[int]:
        """QYZMET_OPERATORS as Telegram user ids (comma-separated); ValueError on anything else."""
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

    def secret_values(self) -> list[str]:
        """The configured values that must never appear in any output (logs mask them)."""
        redis_password = url_password(self.redis_url) if self.redis_url else None
        database_password = url_password(self.database) if "://" in self.database else None
        # The signing key given as PEM text is a secret; given as a path, the path is not.
        signing_key = self.signing_key if self.signing_key and "-----BEGIN" in self.signing_key else None
        return [v for v in (self.telegram_token, self.sms_secret, self.secret_key, self.feed_token, self.state_token,
                            self.telegram_webhook_secret, redis_password, database_password, signing_key,
                            self.smpp_password) if v]


# Fields whose value may be shown back in an error message: numbers and choices, never a token, key or URL.
_SHOWN = {"http_port", "sms_gateway", "log_format", "http_host", "smpp_port"} | {
    name for name, f in Settings.model_fields.items() if f.annotation in (int, float)}


class ConfigError(Exception):
    """A configuration or start-up problem, as one or two lines that name the environment variable and say
    what to do. The command line prints them and exits with code 2; nothing secret is ever in them."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def parse_user_ids(text: str) -> list[int]:
    """QYZMET_OPERATORS: "123, 456" -> [123, 456]; anything that is not a positive integer is an error."""
    ids = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise ValueError(f"not a Telegram user id: {part!r}")
        ids.append(int(part))
    return ids


_CREDENTIALS = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@]*):(?P<password>.*)@(?P<rest>[^@]*)$",
                          re.IGNORECASE | re.DOTALL)


def url_password(url: str) -> str | None:
    """The password of ``scheme://user:password@host…``, read as a person wrote it: everything between the
    first colon and the last ``@``, so that a password with ``/``, ``@`` or ``:`` (``openssl rand -base64`` makes
    them) is found whole, where urllib would cut it at its first ``/`` and take the rest for a port."""
    match = _CREDENTIALS.match(url)
    return match["password"] if match and match["password"] else None


def url_without_password(url: str) -> str:
    """``url`` with its password as ``***`` (found as ``url_password`` finds it)."""
    match = _CREDENTIALS.match(url)
    if not match or not match["password"]:
        return url
    return f"{match['scheme']}{match['user']}:***@{match['rest']}"


def load_settings(**values: object) -> Settings:
    """Settings from the environment (and .env); ConfigError naming each bad QYZMET_ variable."""
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(*describe(exc)) from None


def describe(exc: ValidationError) -> list[str]:
    """One line per problem: ``QYZMET_HTTP_PORT: must be at most 65535 (got 70000)``."""
    lines = []
    for error in exc.errors(include_url=False, include_input=True):
        field = str(error["loc"][0]) if error.get("loc") else ""
        message = _message(error)
        if not field:  # a rule across fields: its message names the variables
            lines.append(message)
            continue
        shown = ""
        if field in _SHOWN and isinstance(error.get("input"), (str, int, float)) and len(str(error["input"])) < 40:
            shown = f" (got {str(error['input'])!r})"
        lines.append(f"QYZMET_{field.upper()}: {message}{shown}")
    return lines


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt'):g}"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge'):g} or more"
    if kind == "less_than_equal":
        return f"must be {ctx.get('le'):g} or less"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '').replace(chr(39), '')}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "must be")
