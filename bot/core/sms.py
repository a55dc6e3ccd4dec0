"""Sending an SMS: written to the outbox first, then handed to the gateway."""

from __future__ import annotations

import logging
import uuid

from bot.clock import Clock
from bot.domain.phone import mask_phone
from bot.gateways.sms import PermanentSmsError, SmsGateway, TemporarySmsError
from store.sms_outbox import SmsOutboxRepository

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class SmsService:
    def __init__(self, outbox: SmsOutboxRepository, gateway: SmsGateway, clock: Clock) -> None:
        self._outbox = outbox
        self._gateway = gateway
        self._clock = clock

    async def send(self, to: str, text: str, kind: str = "interactive") -> str:
        """Queue a message and try to send it now; a temporary failure leaves it queued for a retry."""
        message_id = uuid.uuid4().hex
        await self._outbox.add(message_id, to, text, kind, self._clock.now())
        await self._attempt(message_id, to, text, attempts_before=0)
        return message_id

    async def retry_queued(self) -> int:
        """Resend what is still queued (interactive first). Returns how many were attempted."""
        queued = await self._outbox.queued()
        for message in queued:
            await self._attempt(message.id, message.to_phone, message.text, message.attempts)
        return len(queued)

    async def _attempt(self, message_id: str, to: str, text: str, attempts_before: int) -> None:
        now = self._clock.now()
        try:
            gateway_id = await self._gateway.send(message_id, to, text)
        except TemporarySmsError as exc:
            failed = attempts_before + 1 >= MAX_ATTEMPTS
            await self._outbox.mark(message_id, "failed" if failed else "queued", now, str(exc))
            log.warning("SMS %s to %s not sent yet: %s", message_id, mask_phone(to), exc)
            return
        except PermanentSmsError as exc:
            await self._outbox.mark(message_id, "failed", now, str(exc))
            log.error("SMS %s to %s refused by the gateway: %s", message_id, mask_phone(to), exc)
            return
        await self._outbox.mark(message_id, "sent", now, None, gateway_id)
