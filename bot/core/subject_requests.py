"""Requests about me: a verified person sees every request other people made for their registry information —
when, who asked (masked name and IIN), which register, what was decided and when the result was given — and
may decline one that still waits for their consent.

Only the requests about the IIN of the verified identity are ever read; the requester's full name and IIN
never leave masked. Declining is the subject's decision in their own "personal cabinet" (method ``cabinet``),
made by the same use case as the Decline button of an offer, so the requester is told the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.clock import Clock
from bot.core.consent import ConsentService
from bot.core.registry_info import Accepted, Delivered, NotAllowed, NotPending, Refused
from bot.domain.iin import mask_iin
from bot.domain.model import Identity
from bot.domain.names import mask_name
from store.subject_requests import SubjectRequestRepository, SubjectRequestRow

LIMIT = 20  # the newest ones; a person with more can ask the contact centre

Decision = Literal["pending", "consented_otp", "consented_sms", "consented_cabinet", "declined", "expired",
                   "wrong_codes", "no_phone", "closed"]


@dataclass(frozen=True)
class RequestAboutMe:
    number: str
    service: str
    asked_at: datetime
    requester_name: str    # masked ("Сергей И.")
    requester_iin: str     # masked ("********0451")
    decision: Decision
    decided_at: datetime | None
    waits_until: datetime | None   # while pending: until when consent may be given
    delivered_at: datetime | None  # when the result was given to the requester

    @property
    def can_decline(self) -> bool:
        return self.decision == "pending"


def decision_of(row: SubjectRequestRow, now: datetime) -> Decision:
    """What became of the subject's consent. A request no consent was asked for was refused because the
    subject had no registered phone; a pending one whose time is up counts as expired (the sweeper closes it)."""
    status = row.consent_status
    if status is None:
        return "no_phone" if row.app_status == "refused" else "closed"
    if status == "pending":
        return "pending" if row.expires_at is not None and row.expires_at > now else "expired"
    if status == "given":
        return {"otp": "consented_otp", "sms": "consented_sms", "cabinet": "consented_cabinet"}.get(
            row.consent_method or "", "consented_otp")  # type: ignore[return-value]
    if status == "failed":
        return "wrong_codes"
    if status in ("declined", "expired"):
        return status  # type: ignore[return-value]
    return "closed"


class SubjectRequestsService:
    def __init__(self, repo: SubjectRequestRepository, consents: ConsentService, clock: Clock) -> None:
        self._repo = repo
        self._info = consents
        self._clock = clock

    async def about_me(self, identity: Identity) -> list[RequestAboutMe]:
        """The newest requests about the verified person, newest first."""
        now = self._clock.now()
        out = []
        for row in await self._repo.about(identity.iin, LIMIT):
            decision = decision_of(row, now)
            out.append(RequestAboutMe(
                number=row.number, service=row.service, asked_at=row.submitted_at,
                requester_name=mask_name(row.requester_name or ""), requester_iin=mask_iin(row.requester_iin),
                decision=decision, decided_at=row.decided_at,
                waits_until=row.expires_at if decision == "pending" else None, delivered_at=row.delivered_at))
        return out

    async def decline(self, identity: Identity, number: str) -> Refused | NotPending | NotAllowed:
        """Decline one request about the verified person that still waits for consent (method ``cabinet``; the
        requester is told). Anyone else's request, or no such request: NotAllowed, alike."""
        result = await self._info.decide_as_subject(identity, number, consents=False)
        assert not isinstance(result, (Delivered, Accepted))  # a decline gives nothing
        return result
