"""Certificates anyone can verify: the verification code each «Сведения/Мәлімет» carries, the check an
employer makes of it (in the bot or on the web page), and the PDF its holder or requester may get again.

No medical status is stored. A certificate is recorded when it is issued with everything its code covers but
the status (bot/domain/verification.py); a check recomputes the code for the status the checker sees on the
paper. Wrong codes are limited per client and per number, counted in the database so that the limit holds
across processes; every check is recorded (the client as a keyed hash, never a code or a status), and the
holder is told that their certificate was checked — in Telegram when they use the bot, otherwise by SMS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from bot.clock import Clock
from bot.config import Settings
from bot.core.notices import NoticeService
from bot.core.outbox import CERTIFICATE_PDF, TelegramOutbox
from bot.domain.model import Identity
from bot.domain.names import mask_name
from bot.domain.numbers import APPLICATIONS
from bot.domain.verification import (
    CodeFields,
    certificate_code,
    format_code,
    normalize_code,
    same_code,
    valid_until,
)
from store.applications import ApplicationRepository
from store.certificates import CertificateRepository, IssuedCertificate
from store.db import Database, utc_iso

log = logging.getLogger(__name__)

# Wrong codes: at most MAX_WRONG per client and per number within WINDOW; then every check is refused until
# the oldest wrong one leaves the window. An unknown number counts as a wrong code and is answered alike, so
# that trying numbers tells nothing about which were issued.
WINDOW = timedelta(minutes=15)
MAX_WRONG = 5
# One notice per certificate and outcome within this time: an employer checking twice, or a page reloaded,
# does not send the holder a second SMS.
NOTICE_QUIET = timedelta(hours=1)

VALID, MISMATCH, NO_MATCH, LIMITED = "valid", "status_mismatch", "no_match", "limited"
Channel = Literal["web", "telegram"]


@dataclass(frozen=True)
class Checked:
    """The code is the one issued with this number. ``status_matches``: the status the checker sees is the one
    issued (False: the paper was altered). ``expired``: its 10 calendar days have passed."""
    number: str
    service: str
    holder_name: str  # masked
    issued_at: datetime
    valid_until: datetime
    expired: bool
    status_matches: bool


@dataclass(frozen=True)
class NoMatch:
    """No certificate was issued with this number and this code (either may be wrong)."""


@dataclass(frozen=True)
class Limited:
    """Too many wrong codes from this client, or for this number, lately: nothing was checked."""


@dataclass(frozen=True)
class PdfOwed:
    number: str


@dataclass(frozen=True)
class PdfExpired:
    number: str
    valid_until: datetime


@dataclass(frozen=True)
class PdfNotFound:
    """Not a certificate this person may receive (or none at all): the same answer either way."""


class CertificateService:
    def __init__(self, db: Database, repo: CertificateRepository, apps: ApplicationRepository,
                 notices: NoticeService, telegram: TelegramOutbox, clock: Clock, key: bytes,
                 settings: Settings) -> None:
        self._db = db
        self._repo = repo
        self._apps = apps
        self._notices = notices
        self._telegram = telegram
        self._clock = clock
        self._key = key
        self._base_url = (settings.public_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")
        self._base_configured = settings.public_url is not None

    # Issuing -------------------------------------------------------------------------------------------------

    async def record(self, number: str, iin: str, service: str, source_system: str, full_name: str,
                     issued_at: datetime) -> None:
        """Record an issued certificate, in the issuing unit of work (RegistryInfoService)."""
        await self._repo.add(IssuedCertificate(number, iin, service, source_system, mask_name(full_name),
                                               issued_at, valid_until(issued_at)))

    async def issued(self, number: str) -> IssuedCertificate | None:
        return await self._repo.get(number)

    def code(self, fields: CodeFields) -> str:
        """The verification code as printed: ABCDE-FGHJK."""
        return format_code(certificate_code(self._key, fields))

    def verify_url(self, number: str, code: str) -> str:
        """The verification page with the number and code filled in (the QR code of the PDF): the checker
        still states the status they see, so the link itself says nothing about it. No language: the page
        speaks the checker's (their browser's), not the holder's."""
        return f"{self._base_url}/verify?" + urlencode({"number": number, "code": code})

    def seal_url(self, token: str) -> str:
        """The verification page with a certificate's signed payload (bot/domain/certificate_seal.py): the PDF's
        QR code. The payload is base64url, safe in a query as it is."""
        return f"{self._base_url}/verify?p={token}"

    def listening_on(self, host: str, port: int) -> None:
        """The HTTP server is up on ``port`` (chosen by the system when configured as 0): links name it, unless
        QYZMET_PUBLIC_URL says where the page is reached from outside."""
        if not self._base_configured:
            self._base_url = f"http://{host}:{port}"
            if host not in ("127.0.0.1", "localhost", "::1"):
                log.warning("QYZMET_PUBLIC_URL is not set: certificates link to %s, which people outside may not "
                            "reach", self._base_url)

    # Checking ------------------------------------------------------------------------------------------------

    async def check(self, channel: Channel, client: str, number_text: str, code_text: str, observed: bool
                    ) -> Checked | NoMatch | Limited:
        """A checker's number, code and the status the paper shows (``observed``: «состоит / тұрады»)."""
        number = APPLICATIONS.parse(number_text)
        code = normalize_code(code_text)
        client_id = self._client_id(channel, client)
        async with self._db.unit("certificates/check"):
            # The limits (and the one notice an hour) read the recent checks, then add one: checks of one client
            # and of one number take turns, across replicas too. Always client first, then number.
            await self._db.serialize(f"certificate-checks:client:{client_id}")
            if number is not None:
                await self._db.serialize(f"certificate-checks:number:{number}")
            now = self._clock.now()
            since = now - WINDOW
            if (await self._repo.checks_by_client(client_id, (NO_MATCH,), since) >= MAX_WRONG
                    or (number is not None
                        and await self._repo.checks_of_number(number, (NO_MATCH,), since) >= MAX_WRONG)):
                await self._repo.add_check(now, channel, client_id, number, LIMITED)
                log.info("certificate check (%s) refused: too many wrong codes", channel)
                return Limited()
            issued = await self._repo.get(number) if number is not None and code is not None else None
            outcome = self._compare(issued, code, observed) if issued is not None and code is not None else None
            if issued is None or outcome is None:
                await self._repo.add_check(now, channel, client_id, number, NO_MATCH)
                log.info("certificate check (%s): no match", channel)
                return NoMatch()
            quiet = await self._repo.checks_of_number(issued.number, (outcome,), now - NOTICE_QUIET)
            await self._repo.add_check(now, channel, client_id, issued.number, outcome)
            if not quiet:
                key = "notice.certificate_checked" if outcome == VALID else "notice.certificate_check_mismatch"
                await self._notices.notify(key, {"number": issued.number, "when": {"when": utc_iso(now)}},
                                           iin=issued.iin)
            log.info("certificate %s checked (%s): %s", issued.number, channel, outcome)
            return Checked(issued.number, issued.service, issued.holder_name, issued.issued_at, issued.valid_until,
                           expired=issued.valid_until <= now, status_matches=outcome == VALID)

    def _compare(self, issued: IssuedCertificate, code: str, observed: bool) -> str | None:
        """VALID when the code is the one for the status the checker sees, MISMATCH when it is the one for the
        other status (the code is genuine, the status on the paper is not), None when it is neither."""
        def expected(status: bool) -> str:
            return certificate_code(self._key, CodeFields(issued.number, issued.iin, issued.issued_at, status,
                                                          issued.service, issued.source_system))
        if same_code(code, expected(observed)):
            return VALID
        if same_code(code, expected(not observed)):
            return MISMATCH
        return None

    def _client_id(self, channel: str, client: str) -> str:
        """A client (an address, a Telegram user) as a keyed hash: countable, not readable."""
        message = f"qyzmet/check-client\x1f{channel}\x1f{client}".encode()
        return f"{channel}:" + hmac.new(self._key, message, hashlib.sha256).hexdigest()[:20]

    # The PDF -------------------------------------------------------------------------------------------------

    async def request_pdf(self, identity: Identity, user_id: int, number: str
                          ) -> PdfOwed | PdfExpired | PdfNotFound:
        """The certificate as a PDF, for its holder or the requester who received it, within its validity. The
        PDF is owed through the Telegram outbox and rendered from the registry when it is sent; the delivery
        is recorded like the first one (who received registry information, and when)."""
        async with self._db.unit("certificates/pdf"):
            issued = await self._repo.get(number)
            app = await self._apps.get(number) if issued is not None else None
            if issued is None or app is None or identity.iin not in (issued.iin, app.requester_iin):
                return PdfNotFound()
            now = self._clock.now()
            if issued.valid_until <= now:
                return PdfExpired(number, issued.valid_until)
            await self._apps.record_delivery(number, identity.iin, user_id, now)
            await self._telegram.owe(user_id, CERTIFICATE_PDF, {"number": number}, label="certificate_pdf")
            return PdfOwed(number)
