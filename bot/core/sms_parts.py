"""Delivery receipts that name the SMSC's id of a part (SMPP), turned into the receipt of our message.

The HTTP gateway's receipts name our message id and go straight to ``SmsService.apply_receipt``; an SMSC's
name the id it gave one part of one send. Here a part's receipt is recorded, and once it settles the
message (a failed part, or every part of one send delivered) it goes through the same
``SmsService.apply_receipt`` as an HTTP receipt: one rule for what a receipt does to a message.
"""

from __future__ import annotations

import uuid
from typing import Literal

from bot.core.sms_sending import SmsService
from store.db import Database
from store.sms_outbox import SmsOutboxRepository
from store.sms_parts import SmsPartRepository

PartOutcome = Literal["unknown", "early", "pending", "applied", "final"]


class SmsParts:
    def __init__(self, db: Database, parts: SmsPartRepository, outbox: SmsOutboxRepository, sms: SmsService) -> None:
        self._db = db
        self._parts = parts
        self._outbox = outbox
        self._sms = sms

    async def record_send(self, message_id: str, gateway_ids: list[str]) -> None:
        """The SMSC accepted every part of one send of ``message_id`` under these ids (before the sender marks
        the message sent, so that a receipt coming back at once finds it)."""
        async with self._db.unit("sms/parts"):
            await self._parts.add(message_id, uuid.uuid4().hex, gateway_ids)

    async def receipt(self, gateway_id: str, status: str, reason: str | None) -> PartOutcome:
        """A part's final receipt. "early": its message's sender has not recorded the acceptance yet (the
        message is still 'sending'): try again in a moment, or the sender's 'sent' would overwrite it. "unknown":
        no part has this id yet — its sender (in this process or another bind's) may still be recording it.
        The part's receipt and the message's outcome it settles are one unit of work: a process killed between
        the two would otherwise leave the last part recorded and the message never settled."""
        async with self._db.unit("sms/part-receipt"):
            found = await self._parts.message_of(gateway_id)
            if found is None:
                return "unknown"
            message_id, send_ref = found
            message = await self._outbox.get(message_id)
            if message is not None and message.status == "sending":
                return "early"
            await self._parts.set_receipt(gateway_id, status)
            settled = status == "failed" or await self._parts.delivered_send(message_id, send_ref)
            if not settled:
                return "pending"
            applied = await self._sms.apply_receipt(message_id, status, reason)  # joins this unit
        return "applied" if applied else "final"
