"""One-time passwords (DESIGN.md): 6 digits from `secrets`, kept as an HMAC, limited in time and tries."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.metrics import Metrics, on_commit
from store.db import Database
from store.otps import OtpRepository

_CODE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class Issued:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class TooSoon:
    """A new code was asked for before the resend pause ran out."""
    wait_seconds: int


@dataclass(frozen=True)
class TooMany:
    """The phone has had as many codes as allowed this hour."""


@dataclass(frozen=True)
class Verified:
    pass


@dataclass(frozen=True)
class WrongCode:
    attempts_left: int


@dataclass(frozen=True)
class NoValidCode:
    """No code to check: never sent, used, expired, or locked after too many wrong tries."""
    reason: str  # 'none', 'expired', 'locked'


def parse_code(text: str) -> str | None:
    """The code a person typed ("482 913", "482913"), or None when the text is not a code at all."""
    compact = re.sub(r"[\s\-]", "", text)
    return compact if _CODE.fullmatch(compact) else None


class OtpService:
    """Codes are issued, checked and spent inside the caller's unit of work (each method joins it, or is a
    unit of its own): a check and the count of a wrong try are one transaction."""

    def __init__(self, db: Database, repo: OtpRepository, key: bytes, clock: Clock, settings: Settings,
                 metrics: Metrics | None = None) -> None:
        self._db = db
        self._metrics = metrics or Metrics()
        self._repo = repo
        self._key = key
        self._clock = clock
        self._s = settings

    def _hash(self, purpose: str, ref: str, code: str) -> str:
        return hmac.new(self._key, f"{purpose}:{ref}:{code}".encode(), hashlib.sha256).hexdigest()

    async def issue(self, purpose: str, ref: str, phone: str) -> Issued | TooSoon | TooMany:
        async with self._db.unit("otp/issue"):
            return await self._issue(purpose, ref, phone)

    async def _issue(self, purpose: str, ref: str, phone: str) -> Issued | TooSoon | TooMany:
        # The resend pause and the hourly cap are "count, then write": one issue per phone at a time, across
        # replicas too.
        await self._db.serialize(f"otp-issue:{phone}")
        now = self._clock.now()
        latest = await self._repo.latest(purpose, ref)
        if latest is not None:
            ready_at = latest.created_at + timedelta(seconds=self._s.otp_resend_after_seconds)
            if ready_at > now:
                self._metrics.otp_not_issued(purpose, "too_soon")  # refused now, whatever the caller's unit does
                return TooSoon(max(1, int((ready_at - now).total_seconds() + 0.999)))
        hourly = self._s.otp_max_sends_per_hour
        if await self._repo.sends_since(phone, now - timedelta(hours=1), hourly) >= hourly:
            self._metrics.otp_not_issued(purpose, "hourly_limit")
            return TooMany()
        code = f"{secrets.randbelow(1_000_000):06d}"
        expires_at = now + timedelta(seconds=self._s.otp_ttl_seconds)
        await self._repo.add(purpose, ref, phone, self._hash(purpose, ref, code), now, expires_at)
        on_commit(self._db, lambda: self._metrics.otp_issued(purpose))
        return Issued(code, expires_at)

    async def verify(self, purpose: str, ref: str, code: str) -> Verified | WrongCode | NoValidCode:
        async with self._db.unit("otp/verify"):
            return await self._verify(purpose, ref, code)

    async def _verify(self, purpose: str, ref: str, code: str) -> Verified | WrongCode | NoValidCode:
        # Two tries typed at once must both be counted: one check per code at a time, across replicas too.
        await self._db.serialize(f"otp:{purpose}:{ref}")
        now = self._clock.now()
        row = await self._repo.latest(purpose, ref)
        if row is None or row.consumed_at is not None:
            return NoValidCode("none")
        # Wrong tries count across resent codes: a resend must not buy five more guesses.
        tries = await self._repo.attempts_for_ref(purpose, ref)
        if tries >= self._s.otp_max_attempts:
            return NoValidCode("locked")
        if row.expires_at <= now:
            return NoValidCode("expired")
        if hmac.compare_digest(row.code_hash, self._hash(purpose, ref, code)):
            return Verified() if await self._repo.consume(row.id, now) else NoValidCode("none")
        await self._repo.add_attempt(row.id)
        left = self._s.otp_max_attempts - tries - 1
        if left > 0:
            return WrongCode(left)
        on_commit(self._db, lambda: self._metrics.otp_locked(purpose))  # this wrong try locked the code
        return NoValidCode("locked")

    async def matches(self, purpose: str, ref: str, code: str) -> bool:
        """Whether ``code`` would be Verified now, read only (no try is counted, no lock taken): a caller asks
        an outside system only for a right code, before the unit that verifies it for real begins."""
        row = await self._repo.latest(purpose, ref)
        if row is None or row.consumed_at is not None or row.expires_at <= self._clock.now():
            return False
        if await self._repo.attempts_for_ref(purpose, ref) >= self._s.otp_max_attempts:
            return False
        return hmac.compare_digest(row.code_hash, self._hash(purpose, ref, code))

    async def invalidate(self, purpose: str, ref: str) -> None:
        async with self._db.unit("otp/invalidate"):
            row = await self._repo.latest(purpose, ref)
            if row is not None and row.consumed_at is None:
                await self._repo.consume(row.id, self._clock.now())
