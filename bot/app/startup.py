"""What the command line checks before the bot starts, and how it waits for Telegram.

Every problem a deployer can fix becomes a ``ConfigError``: one or two lines that name the environment variable
and say what to do (the command line prints them and exits with code 2), never a traceback, never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from telegram import Bot
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.config import ConfigError, Settings, url_password, url_without_password
from bot.domain.calendar import WorkingCalendar
from bot.domain.retry import backoff
from bot.gateways.sms_gateway import SmsGateway
from bot.gateways.telegram_http import AiohttpRequest
from bot.gateways.telegram_rate_limit import retry_after_seconds
from bot.logging_setup import redact
from store.db import SchemaMismatch, is_postgres
from store.opening import open_database
from store.sqlite_engine import create_private

log = logging.getLogger("qyzmet")

RETRY_FIRST = 1.0  # seconds before the second try to reach Telegram; doubled after each failure
RETRY_MAX = 30.0
CONNECT_TIMEOUT = 10.0  # seconds to reach the PostgreSQL server at start


def database_label(database: str) -> str:
    """The database as a person should read it: the absolute path of the SQLite file (two commands started in
    two folders would otherwise silently use two databases), or a server's URL without its password."""
    if database == ":memory:":
        return database
    if "://" in database:
        parts = urlsplit(url_without_password(database))
        if parts.query:  # a password may be given as a parameter too (…?password=…)
            query = [(k, "***" if k.lower() in ("password", "passfile") else v)
                     for k, v in parse_qsl(parts.query, keep_blank_values=True)]
            parts = parts._replace(query=urlencode(query, safe="*/"))
        return urlunsplit(parts)
    return str(Path(database).expanduser().resolve())


def check_files(settings: Settings) -> None:
    """The files the bot reads at start: the calendar overrides and the secret key (generated on first run)."""
    try:
        WorkingCalendar.from_file(settings.calendar_overrides)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError and the calendar's own errors are ValueErrors
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"QYZMET_CALENDAR_OVERRIDES: cannot use {settings.calendar_overrides}: {reason}",
                          "  Fix the file (format in the README), or unset the variable to use the bundled one."
                          ) from None
    in_the_way = _file_in_the_way(settings.database)
    if in_the_way is not None:
        raise in_the_way
    if not settings.secret_key and settings.database != ":memory:":
        try:
            settings.resolved_secret_key()
        except OSError as exc:
            path = Path(database_label(settings.database)).parent / "secret.key"
            raise ConfigError(f"QYZMET_SECRET_KEY is not set and the key file {path} cannot be used: "
                              f"{exc.strerror or exc}",
                              "  Make that folder writable (see QYZMET_DATABASE), or set QYZMET_SECRET_KEY.") from None


def _file_in_the_way(database: str) -> ConfigError | None:
    """A SQLite database whose folder can never be made, because a file stands where a folder of its path
    should be: said as such (the system's own words would be "File exists")."""
    if database == ":memory:" or "://" in database:
        return None
    folder = Path(database_label(database)).parent
    for path in (folder, *folder.parents):
        if path.exists():
            if path.is_dir():
                return None
            return ConfigError(f"QYZMET_DATABASE: {path} is a file, not a folder: the database cannot be "
                               "created under it", "  Choose a path whose folders are folders.")
    return None


async def open_services(settings: Settings, sms_gateway: SmsGateway | None = None, migrate: bool = True):
    """Services.open, with a database that cannot be opened reported as QYZMET_DATABASE. ``migrate`` False
    (``qyzmet web`` and ``worker``): a database not migrated by ``qyzmet migrate``, or migrated by newer code, is
    refused."""
    from bot.services import Services
    with _database_errors(settings):
        await _reach(settings.database)
        return await Services.open(settings, sms_gateway=sms_gateway, migrate=migrate)


async def migrate_database(settings: Settings) -> list[int]:
    """``qyzmet migrate``: apply the migrations the database lacks (under a lock: replicas starting at once take
    turns); the versions applied. A database newer than the code is refused (ConfigError)."""
    with _database_errors(settings):
        await _reach(settings.database)
        db = await open_database(settings.database, migrate=True)
        await db.close()
        return db.migrated


async def _reach(database: str) -> None:
    """First plainly: a PostgreSQL server that cannot be reached is told as such; a SQLite file is opened and its
    header read ("file is not a database" is told as that, not as whatever the store did first)."""
    if is_postgres(database):
        await _connect_once(database)
    else:
        _probe(database)


@contextlib.contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    import asyncpg
    label = database_label(settings.database)
    try:
        yield
    except SchemaMismatch as exc:
        raise ConfigError(f"QYZMET_DATABASE: cannot use {label}: {exc}") from None
    except asyncpg.PostgresError as exc:  # e.g. the user may not create the tables
        raise ConfigError(f"QYZMET_DATABASE: cannot use {label}: {_reason(settings.database, exc)}",
                          "  The user needs to own the database, or its schema.") from None
    except (OSError, sqlite3.Error) as exc:
        if isinstance(exc, OSError) and is_postgres(settings.database):  # the server went away since
            raise _cannot_connect(settings.database, exc) from None
        in_the_way = _file_in_the_way(settings.database)
        if in_the_way is not None:
            raise in_the_way from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"QYZMET_DATABASE: cannot open {label}: {reason}",
                          "  Point it to a SQLite file in a folder this user can write (the folder is created "
                          "if missing), or to a PostgreSQL server that answers.") from None


def _probe(database: str) -> None:
    """Open the SQLite file and read its header (creating it if missing, as the store would)."""
    if database == ":memory:":
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    create_private(Path(database))
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA schema_version").fetchone()  # "file is not a database" shows here
    finally:
        conn.close()


async def _connect_once(url: str) -> None:
    """Connect to the PostgreSQL server once, so that a wrong URL, a server that is down or a refused login is
    told as such (not as a failure of whatever the store did first)."""
    import asyncpg
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise _cannot_connect(url, exc) from None
    await conn.close()


def _cannot_connect(url: str, exc: BaseException) -> ConfigError:
    return ConfigError(f"QYZMET_DATABASE: cannot connect to {database_label(url)}: {_reason(url, exc)}",
                       "  Check the URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE), that the server is running "
                       "and that it accepts this user.")


def _reason(url: str, exc: BaseException) -> str:
    """The error in one line, without the URL's password."""
    if isinstance(exc, TimeoutError) and not str(exc).strip():
        return f"no answer in {CONNECT_TIMEOUT:g} s"
    reason = _one_line(exc)
    password = url_password(url)
    if password and any(ch in password for ch in "/@:?#"):
        # urllib (and so asyncpg) cuts such a password at its first "/": the cause shown would be nonsense.
        return ("the password holds a character that must be percent-encoded in a URL (/ @ : ? # as %2F %40 %3A "
                "%3F %23)")
    return reason.replace(password, "***") if password else reason


async def wait_for_telegram(settings: Settings, stopping: asyncio.Event) -> bool:
    """Ask Telegram who the bot is (getMe) until it answers: True then, False if stopped while waiting.

    Unreachable (no network, a timeout, Telegram's 5xx): try again with growing pauses, saying so in the log,
    until ``QYZMET_TELEGRAM_START_WAIT_SECONDS`` (0: until stopped). A rejected token (401/404): ConfigError.
    """
    assert settings.telegram_token
    bot = Bot(settings.telegram_token, base_url=settings.telegram_api_url or "https://api.telegram.org/bot",
              request=AiohttpRequest(connection_pool_size=1),
              get_updates_request=AiohttpRequest(connection_pool_size=1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    tries = 1
    limit = settings.telegram_start_wait_seconds
    where = "QYZMET_TELEGRAM_API_URL" if settings.telegram_api_url else "Telegram"
    try:
        while True:
            try:
                await bot.initialize()  # getMe
                return True
            except InvalidToken:  # its text quotes the token: never shown
                lines = ["QYZMET_TELEGRAM_TOKEN: Telegram rejected the token (getMe answered 401/404).",
                         "  Copy the token again from @BotFather."]
                if settings.telegram_api_url:
                    lines[-1] += " Check QYZMET_TELEGRAM_API_URL too (it must end in /bot)."
                raise ConfigError(*lines) from None
            except RetryAfter as exc:
                reason = "Telegram asks to wait"
                pause = max(retry_after_seconds(exc), backoff(tries, RETRY_FIRST, RETRY_MAX))
            except NetworkError as exc:  # no connection, timeouts, 5xx
                reason = _one_line(exc)
                pause = backoff(tries, RETRY_FIRST, RETRY_MAX)
            except TelegramError as exc:
                raise ConfigError(f"QYZMET_TELEGRAM_TOKEN: Telegram refused getMe: {_one_line(exc)}",
                                  "  Check the token with @BotFather.") from None
            waited = loop.time() - started
            if limit and waited >= limit:
                raise ConfigError(f"Telegram could not be reached in {limit:g} s ({reason}).",
                                  f"  Check the network and {where}; QYZMET_TELEGRAM_START_WAIT_SECONDS sets how "
                                  "long to keep trying (0 = until stopped).")
            if limit:
                pause = min(pause, limit - waited)
            log.warning("Telegram is not reachable (%s); trying again in %.3g s", reason, pause)
            try:
                await asyncio.wait_for(stopping.wait(), pause)
                return False
            except TimeoutError:
                pass
            tries += 1
    finally:
        await bot.shutdown()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:200]


def listen_error(settings: Settings, exc: OSError) -> ConfigError:
    return ConfigError(f"QYZMET_HTTP_HOST / QYZMET_HTTP_PORT: cannot listen on {settings.http_host}:"
                       f"{settings.http_port}: {exc.strerror or exc}",
                       "  Choose a free port (QYZMET_HTTP_PORT), or stop the program that uses it.")
