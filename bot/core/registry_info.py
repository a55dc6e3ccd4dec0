"""Registry information (S1–S3): a citizen's own, or another person's with that person's consent — the words
the services and both channels share.

No registry information leaves the system unless the requester's identity is verified (own request) or the
subject consented to this very request (third party). Results are shown, never stored: the store keeps
only that a result was delivered, to whom and when; the certificate is rendered from the registry each time
it is delivered. Each public method of the services is one unit of work: the decision and everything it owes a
person (the requester's result or refusal, the subject's SMS, the offers in the subject's chats) commit
together.

The services, by role: an own request (bot/core/registry_own.py); a third party's request and the subject's
decision on it (bot/core/consent.py); the result given, delivered again and asked again when the registry
could not answer (bot/core/registry_results.py). The person's details come from the citizen directory and the
observation from the registry (bot/core/registry_sources.py), asked before a unit of work begins, never inside
one. When either cannot answer at the moment the result is due, the request is accepted all the same, and the
question waits in a durable queue (registry_questions, asked again by bot/core/pending_results.py); its answer
goes to the requester's chat when it comes, and the requester is told when the due time passes first. Every
stage is reported to monitoring (bot/core/stages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.certificate_seal import SealedCertificate
from bot.domain.model import Application, Citizen
from bot.domain.verification import valid_until
from bot.gateways.state_systems import RegistryAnswer

CONSENT = "consent"
NO_CONSENT = "no_consent"  # the seeds' only refusal ground: absence of the subject's consent

# The information systems that answer for each register when a seed record does not name one.
DEFAULT_SOURCE_SYSTEM = {"tb": "Фтизиатрия", "psychiatry": "Психиатрия", "narcology": "Наркология"}

# Event notes the bot writes (rendered for people by the channel: history.note.<code with : as _>).
NOTE_NO_PHONE, NOTE_DECLINED, NOTE_EXPIRED, NOTE_WRONG_CODE = "no_phone", "declined", "expired", "wrong_code"
LATE_NOTICE = "notice.registry_late"  # the due time passed and the registry has not answered yet


@dataclass(frozen=True)
class Certificate:
    """The "Сведения/Мәлімет" form of the seeds, rendered by the channel and never stored."""
    number: str
    service: str
    issued_at: datetime
    full_name: str
    birth_date: str
    address: str
    observed: bool
    source_system: str
    code: str = ""        # the verification code (bot/core/certificates.py): a keyed hash, never stored
    verify_url: str = ""  # the verification page with the number and code filled in
    seal_url: str = ""    # the verification page with the signed payload (the PDF's QR code): {base}/verify?p=…

    @property
    def valid_until(self) -> datetime:
        return valid_until(self.issued_at)

    def sealed(self) -> SealedCertificate:
        """The fields the page prints, as its QR code seals them: times to the second, as printed."""
        issued = self.issued_at.replace(microsecond=0)
        return SealedCertificate(number=self.number, service=self.service, issued_at=issued,
                                 valid_until=valid_until(issued), full_name=self.full_name,
                                 birth_date=self.birth_date, address=self.address, observed=self.observed,
                                 source_system=self.source_system)


@dataclass(frozen=True)
class Source:
    """What the directory and the registry answered for one certificate: used at once, never stored."""
    person: Citizen | None
    answer: RegistryAnswer


@dataclass(frozen=True)
class Asked:
    """What the outside systems said before a consent was decided: the subject's person and observation
    (None when either could not answer: the question is then queued) and the requester as the subject is told
    about them (requester_label)."""
    source: Source | None
    requester: tuple[str, str]


@dataclass(frozen=True)
class ConsentRequested:
    app: Application
    masked_phone: str
    expires_at: datetime


@dataclass(frozen=True)
class OwnIin:
    """The requester typed their own IIN: that is an own request, not a third-party one."""


@dataclass(frozen=True)
class Refused:
    app: Application
    note: str  # 'no_phone', 'declined', 'expired', 'wrong_code'


@dataclass(frozen=True)
class Delivered:
    app: Application
    certificate: Certificate


@dataclass(frozen=True)
class Accepted:
    """The request is accepted, but the directory or the registry cannot answer now: the result goes to the
    requester's chat when they do (asked again from the queue), by the due time if they answer by then."""
    app: Application


@dataclass(frozen=True)
class NotPending:
    """The consent is no longer open (already given, refused or expired)."""
    app: Application | None


@dataclass(frozen=True)
class NotAllowed:
    """Only the identified data subject may decide; anyone else learns nothing about the request."""
