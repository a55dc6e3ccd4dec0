"""Share links: the holder of a «Сведения/Мәлімет» hands it to one checker (an employer, a driving school) as a
link with its own QR code, valid until a time the holder chooses — at most the certificate's validity — and
revocable at any moment. Opening it shows the whole form as issued, to whoever holds the link and nobody else.

The link is ``/s/<id>.<secret>``: only a keyed hash of the secret is stored, so the table opens nothing, and the
form is rendered from the registry when the link is opened (as a delivery is), never stored. Each opening is
recorded and shown to the holder in /about_me, with a notice in their chat; the person the certificate is about
is told as for any check.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.clock import Clock
from bot.core.certificates import CertificateService, Channel, Checked, PdfExpired, PdfNotFound
from bot.core.notices import NoticeService
from bot.core.registry_info import Certificate
from bot.core.registry_results import ResultDelivery
from bot.domain.model import Identity
from store.applications import ApplicationRepository
from store.certificates import CertificateRepository, IssuedCertificate, Opening, Share
from store.db import Database, utc_iso

log = logging.getLogger(__name__)

# The lifetimes a holder chooses from (a button each); "end" is the certificate's own validity.
LIFETIMES: dict[str, timedelta | None] = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "end": None}
# One notice per link within this time: a checker reloading the page does not flood the holder's chat.
SHARE_NOTICE_QUIET = timedelta(minutes=10)
# What /about_me lists: links that ended within this time are still shown (as ended), and openings as old.
HISTORY = timedelta(days=30)
_ID_BYTES, _SECRET_BYTES = 6, 16  # an id of 8 characters, a secret of 128 bits


@dataclass(frozen=True)
class ShareMade:
    share_id: str
    number: str
    url: str  # carries the secret: shown to the holder once, never stored
    expires_at: datetime


@dataclass(frozen=True)
class Shared:
    """An open link: the certificate as issued (rendered now) and what the register says of it."""
    certificate: Certificate
    issued: Checked
    expires_at: datetime


@dataclass(frozen=True)
class ShareClosed:
    """The link opens nothing: ``revoked`` (by the holder, or the certificate by the issuer), ``expired``, or
    ``unknown`` (no such link: mistyped, cut, made up)."""
    reason: Literal["revoked", "expired", "unknown"]


@dataclass(frozen=True)
class ShareView:
    share: Share
    openings: int

    def state(self, now: datetime) -> Literal["active", "revoked", "expired"]:
        if self.share.revoked_at is not None:
            return "revoked"
        return "expired" if self.share.expires_at <= now else "active"


@dataclass(frozen=True)
class MyCertificates:
    """What /about_me shows of a person's certificates: those in force (to share), their links, and the latest
    checks and openings."""
    in_force: list[IssuedCertificate]
    shares: list[ShareView]
    openings: list[Opening]


class ShareService:
    def __init__(self, db: Database, repo: CertificateRepository, apps: ApplicationRepository,
                 certificates: CertificateService, results: ResultDelivery, notices: NoticeService,
                 clock: Clock, key: bytes) -> None:
        self._db = db
        self._repo = repo
        self._apps = apps
        self._certificates = certificates
        self._results = results
        self._notices = notices
        self._clock = clock
        self._key = key

    async def create(self, identity: Identity, number: str, lifetime: str) -> ShareMade | PdfExpired | PdfNotFound:
        """A new link to certificate ``number`` for its holder (the person it is about, or the requester who
        received it), within the certificate's validity; ``lifetime`` is one of LIFETIMES."""
        if lifetime not in LIFETIMES:
            return PdfNotFound()
        async with self._db.unit("certificates/share"):
            issued = await self._repo.get(number)
            app = await self._apps.get(number) if issued is not None else None
            if issued is None or app is None or identity.iin not in (issued.iin, app.requester_iin):
                return PdfNotFound()
            now = self._clock.now()
            if issued.valid_until <= now or issued.revoked_at is not None:
                return PdfExpired(number, min(issued.valid_until, issued.revoked_at or issued.valid_until))
            span = LIFETIMES[lifetime]
            expires = issued.valid_until if span is None else min(now + span, issued.valid_until)
            share_id = secrets.token_urlsafe(_ID_BYTES)
            secret = secrets.token_urlsafe(_SECRET_BYTES)
            await self._repo.add_share(Share(share_id, number, identity.iin, self._hash(share_id, secret), now,
                                             expires.replace(microsecond=0), None))
        log.info("share link %s made for certificate %s", share_id, number)
        return ShareMade(share_id, number, self._certificates.share_url(f"{share_id}.{secret}"),
                         expires.replace(microsecond=0))

    async def revoke(self, identity: Identity, share_id: str) -> bool:
        """The holder withdraws a link of theirs at once; False when it is not theirs, or was withdrawn already."""
        async with self._db.unit("certificates/share-revoke"):
            done = await self._repo.revoke_share(share_id, identity.iin, self._clock.now())
        if done:
            log.info("share link %s revoked by its holder", share_id)
        return done

    async def open(self, channel: Channel, client: str, token: str) -> Shared | ShareClosed:
        """Someone opened a link. StateSystemUnavailable (bot/gateways/state_systems.py) when the registry cannot
        render the certificate now: the page asks to try again, and nothing is recorded."""
        share = await self._share_of(token)
        issued = await self._repo.get(share.number) if share is not None else None
        closed = _closed(share, issued, self._clock.now())
        if closed is not None:
            return closed
        assert share is not None
        certificate = await self._results.certificate_for(share.number)  # outside the unit: no lock held
        if certificate is None:
            return ShareClosed("unknown")
        assert issued is not None
        # The notices' phones, if they go by SMS, asked of the directory before the unit begins too.
        subject = await self._notices.reach(issued.iin) if issued.iin != share.holder_iin else None
        holder = await self._notices.reach(share.holder_iin)
        async with self._db.unit("certificates/share-open"):
            # Openings and checks of one number take turns across replicas (the notices' quiet time reads them).
            await self._db.serialize(f"certificate-checks:number:{share.number}")
            share = await self._repo.share(share.id)  # revoked meanwhile? the holder's word wins
            issued = await self._repo.get(share.number) if share is not None else None
            now = self._clock.now()
            closed = _closed(share, issued, now)
            if closed is not None:
                return closed
            assert share is not None and issued is not None
            quiet = await self._repo.openings_of_share_since(share.id, now - SHARE_NOTICE_QUIET)
            await self._certificates.recorded_check(now, channel, self._certificates.client_id(channel, client),
                                                    issued, "link", share.id,
                                                    tell_subject=issued.iin != share.holder_iin, reach=subject)
            if not quiet:
                await self._notices.notify("notice.share_opened", {"number": share.number,
                                                                   "when": {"when": utc_iso(now)}},
                                           iin=share.holder_iin, reach=holder)
        log.info("share link %s opened", share.id)
        return Shared(certificate, self._certificates.checked(issued, now), share.expires_at)

    async def mine(self, identity: Identity) -> MyCertificates:
        """The person's links (made or ended within HISTORY) with their openings, and the latest checks and
        openings of the certificates about them or received by them."""
        now = self._clock.now()
        views = [ShareView(share, openings)
                 for share, openings in await self._repo.shares_of(identity.iin, now - HISTORY)]
        openings = await self._repo.openings(identity.iin, ("valid",), now - HISTORY)
        return MyCertificates(await self._repo.in_force_for(identity.iin, now), views, openings)

    async def _share_of(self, token: str) -> Share | None:
        share_id, _, secret = token.strip()[:80].partition(".")
        if not share_id or not secret:
            return None
        share = await self._repo.share(share_id)
        if share is None or not hmac.compare_digest(share.secret_hash, self._hash(share_id, secret)):
            return None
        return share

    def _hash(self, share_id: str, secret: str) -> str:
        message = f"qyzmet/share-link\x1f{share_id}\x1f{secret}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _closed(share: Share | None, issued: IssuedCertificate | None, now: datetime) -> ShareClosed | None:
    """Why a link opens nothing now, or None when it is in force."""
    if share is None or issued is None:
        return ShareClosed("unknown")
    if share.revoked_at is not None or issued.revoked_at is not None:
        return ShareClosed("revoked")
    if share.expires_at <= now or issued.valid_until <= now:
        return ShareClosed("expired")
    return None


__all__ = ["HISTORY", "LIFETIMES", "MyCertificates", "ShareClosed", "ShareMade", "ShareService",
           "ShareView", "Shared"]
