"""Certificates anyone can verify: the verification code each «Сведения/Мәлімет» carries, the checks made of it
(in the bot, on the web page, from the signed QR payload), the holder's share links, and the PDF.

No medical status is stored. A certificate is recorded when it is issued with everything its code covers (not
the mark: bot/domain/verification.py). Three ways to check, each telling no more than its holder may know:
- **number + code** (dictated by phone): issued when, about whom (masked), until when, revoked or not — never the
  mark, whatever sequence of requests is made;
- **the signed payload** of the QR code (bot/domain/certificate_seal.py): the whole form as printed, vouched
  for by the issuer's signature (checkable offline with the published key); online we add "not revoked";
- **a share link** the holder made (bot/core/certificate_shares.py): the whole form, until the link's end.

Limits slow guessing and never refuse the right number and code: the code is compared first, and only wrong
codes are counted and limited, per real client and per number, in the database so that they hold across
replicas. Every check is recorded (the client as a keyed hash, never a code or a status) and shown to the
holder; the person the certificate is about is told that it was checked.
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
from bot.core.notices import NoticeService, Reach
from bot.core.outbox import CERTIFICATE_PDF, TelegramOutbox
from bot.core.ports import Sealer
from bot.domain.certificate_seal import BadSeal, SealedCertificate
from bot.domain.model import Identity
from bot.domain.names import mask_name
from bot.domain.numbers import APPLICATIONS
from bot.domain.verification import CodeFields, certificate_code, format_code, normalize_code, same_code, valid_until
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

VALID, NO_MATCH, LIMITED = "valid", "no_match", "limited"
Channel = Literal["web", "telegram"]
Via = Literal["code", "seal", "link"]


@dataclass(frozen=True)
class Checked:
    """The code is the one issued with this number. ``expired``: its 10 calendar days have passed; ``revoked``:
    the issuer withdrew it. Nothing about the mark: a number and a code never tell it."""
    number: str
    service: str
    holder_name: str  # masked
    issued_at: datetime
    valid_until: datetime
    expired: bool
    revoked: bool


@dataclass(frozen=True)
class NoMatch:
    """No certificate was issued with this number and this code (either may be wrong)."""


@dataclass(frozen=True)
class Limited:
    """Too many wrong codes from this client, or for this number, lately: nothing was checked."""


@dataclass(frozen=True)
class SealChecked:
    """The QR's payload carries the issuer's valid signature: ``fields`` are the form as printed. ``issued``
    is what the register says of it now (None: this number is not in it, e.g. a payload of another deployment)."""
    fields: SealedCertificate
    issued: Checked | None


@dataclass(frozen=True)
class Forged:
    """The payload is not one the issuer signed (changed, cut, or made up)."""


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
                 settings: Settings, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer
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
        """Record an issued certificate, in the issuing unit of work (ResultDelivery.give)."""
        await self._repo.add(IssuedCertificate(number, iin, service, source_system, mask_name(full_name),
                                               issued_at, valid_until(issued_at)))

    async def issued(self, number: str) -> IssuedCertificate | None:
        return await self._repo.get(number)

    def code(self, fields: CodeFields) -> str:
        """The verification code as printed: ABCDE-FGHJK."""
        return format_code(certificate_code(self._key, fields))

    def verify_url(self, number: str, code: str) -> str:
        """The verification page with the number and code filled in: it tells what number and code tell, never
        the mark. No language: the page speaks the checker's (their browser's), not the holder's."""
        return f"{self._base_url}/verify?" + urlencode({"number": number, "code": code})

    def seal_url(self, token: str) -> str:
        """The link in the certificate's QR code: the page checks the signed payload and shows the form."""
        return f"{self._base_url}/verify?" + urlencode({"p": token})

    def share_url(self, token: str) -> str:
        return f"{self._base_url}/s/{token}"


    def listening_on(self, host: str, port: int) -> None:
        """The HTTP server is up on ``port`` (chosen by the system when configured as 0): links name it, unless
        QYZMET_PUBLIC_URL says where the page is reached from outside."""
        if not self._base_configured:
            self._base_url = f"http://{host}:{port}"
            if host not in ("127.0.0.1", "localhost", "::1"):
                log.warning("QYZMET_PUBLIC_URL is not set: certificates link to %s, which people outside may not "
                            "reach", self._base_url)

    # Checking ------------------------------------------------------------------------------------------------

    async def check(self, channel: Channel, client: str, number_text: str, code_text: str
                    ) -> Checked | NoMatch | Limited:
        """A checker's number and code. The code is compared before any limit is read: the genuine pair always
        goes through, however many wrong tries others made; a wrong one is refused as "limited" once its client
        or its number has had MAX_WRONG wrong ones within WINDOW (said alike for a wrong code and an unknown
        number, so trying numbers tells nothing about which were issued)."""
        number = APPLICATIONS.parse(number_text)
        code = normalize_code(code_text)
        client_id = self.client_id(channel, client)
        ahead = await self._repo.get(number) if number is not None and code is not None else None
        reach = await self._notices.reach(ahead.iin) if ahead is not None and code is not None \
            and self._genuine(ahead, code) else None  # the notice's phone, before the unit begins
        async with self._db.unit("certificates/check"):
            # The limits (and the one notice an hour) read the recent checks, then add one: checks of one client
            # and of one number take turns, across replicas too. Always client first, then number.
            await self._db.serialize(f"certificate-checks:client:{client_id}")
            if number is not None:
                await self._db.serialize(f"certificate-checks:number:{number}")
            now = self._clock.now()
            issued = await self._repo.get(number) if number is not None and code is not None else None
            if issued is not None and code is not None and self._genuine(issued, code):
                await self.recorded_check(now, channel, client_id, issued, "code", reach=reach)
                log.info("certificate %s checked (%s) by its code", issued.number, channel)
                return self.checked(issued, now)
            since = now - WINDOW
            if (await self._repo.checks_by_client(client_id, (NO_MATCH,), since) >= MAX_WRONG
                    or (number is not None
                        and await self._repo.checks_of_number(number, (NO_MATCH,), since) >= MAX_WRONG)):
                await self._repo.add_check(now, channel, client_id, number, LIMITED)
                log.info("certificate check (%s) refused: too many wrong codes", channel)
                return Limited()
            await self._repo.add_check(now, channel, client_id, number, NO_MATCH)
            log.info("certificate check (%s): no match", channel)
            return NoMatch()

    async def check_seal(self, channel: Channel, client: str, token: str) -> SealChecked | Forged:
        """The signed payload of a certificate's QR code. Its signature is checked with the issuer's public key
        (what any offline verifier does); online we add whether the register knows it, and whether it was
        revoked or has expired. No limit: a signature cannot be guessed, and a forged one is told as such."""
        try:
            fields = self._sealer.unseal(token)
        except BadSeal:
            log.info("certificate check (%s): the payload's signature does not hold", channel)
            return Forged()
        ahead = await self._repo.get(fields.number)
        reach = await self._notices.reach(ahead.iin) if ahead is not None else None  # before the unit begins
        async with self._db.unit("certificates/seal"):
            # Checks of one number take turns across replicas: the one notice an hour reads them (as in check).
            await self._db.serialize(f"certificate-checks:number:{fields.number}")
            now = self._clock.now()
            issued = await self._repo.get(fields.number)
            if issued is None or issued.issued_at != fields.issued_at:
                return SealChecked(fields, None)
            await self.recorded_check(now, channel, self.client_id(channel, client), issued, "seal", reach=reach)
            return SealChecked(fields, self.checked(issued, now))

    def seal(self, fields: SealedCertificate) -> str:
        return self._sealer.seal(fields)

    def checked(self, issued: IssuedCertificate, now: datetime) -> Checked:
        return Checked(issued.number, issued.service, issued.holder_name, issued.issued_at, issued.valid_until,
                       expired=issued.valid_until <= now, revoked=issued.revoked_at is not None)

    async def recorded_check(self, now: datetime, channel: str, client_id: str, issued: IssuedCertificate,
                             via: Via, share_id: str | None = None, tell_subject: bool = True,
                             reach: Reach | None = None) -> None:
        """Record a successful check or opening (in the caller's unit) and tell the person the certificate is
        about — once an hour, so that a reloaded page does not send a second SMS (``tell_subject`` False: they
        are told otherwise, as the holder of the link opened)."""
        quiet = await self._repo.checks_of_number(issued.number, (VALID,), now - NOTICE_QUIET)
        await self._repo.add_check(now, channel, client_id, issued.number, VALID, via=via, share_id=share_id)
        if not quiet and tell_subject:
            await self._notices.notify("notice.certificate_checked",
                                       {"number": issued.number, "when": {"when": utc_iso(now)}}, iin=issued.iin,
                                       reach=reach)

    async def revoke(self, number: str) -> bool:
        """The issuer withdraws a certificate (``qyzmet certificates revoke``): every later check says so, and
        its share links open nothing more. False when no such certificate, or withdrawn already."""
        async with self._db.unit("certificates/revoke"):
            done = await self._repo.revoke(number, self._clock.now())
        if done:
            log.warning("certificate %s revoked", number)
        return done

    def _genuine(self, issued: IssuedCertificate, code: str) -> bool:
        """The code is the one issued with this certificate: today's code (no mark), or a v1 code (over the mark,
        issued before the mark left the code) for either mark — both answer alike, so nothing tells which."""
        def expected(observed: bool | None) -> str:
            return certificate_code(self._key, CodeFields(issued.number, issued.iin, issued.issued_at,
                                                          issued.service, issued.source_system, observed))
        matches = [same_code(code, expected(observed)) for observed in (None, True, False)]  # all: constant time
        return any(matches)

    def client_id(self, channel: str, client: str) -> str:
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
