"""Updates Telegram posts to the webhook, each handled before it is acknowledged.

Why not python-telegram-bot's ``run_webhook``: it answers 200 before the update is handled, so a crash loses
the update, and Telegram, believing it delivered, sends the chat's next update — to any replica — while the
first may still be running: order is gone. Here a posted update goes through the same per-chat processor and
turn (one unit of work, its replies delivered) as a polled one, and only then is it acknowledged. Telegram
sends a chat's next message only after that, so one chat's messages are handled in order whichever replica
takes them. A failed update is refused: Telegram posts it again, and nothing else of that chat meanwhile.

Button presses come in a per-user queue of their own, so a press and a message of one person may arrive at two
replicas at once: the person's lock (bot/gateways/person_lock.py) makes them take turns.

Acted on once: an update that changed something is marked handled in its own transaction (turn.py), so a
retry — even one that raced the first attempt on another replica — is not acted on again. One that changed
nothing is remembered in the update ledger (bot/gateways/update_ledger.py), so its retry is not answered twice
either (unless the ledger lost it: then a menu or a help text is sent again, nothing more).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.gateways.person_lock import LockTimeout, PersonLocks
from bot.gateways.update_ledger import UpdateLedger
from handlers.telegram import update_shape, webhook_reply
from handlers.telegram.per_chat import sender_of
from handlers.telegram.turn import attempt

log = logging.getLogger(__name__)

ATTEMPTS = 5  # failed tries at one update before it is given up (the person is told of the error on the last)


class MalformedUpdate(ValueError):
    """The posted body is not a Telegram update."""


class WebhookUpdates:
    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], locks: PersonLocks, ledger: UpdateLedger,
                 attempts: int = ATTEMPTS) -> None:
        self._application = application
        self._locks = locks
        self._ledger = ledger
        self._attempts = attempts

    async def receive(self, data: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Handle one posted update. (True, call): acknowledge it (handled now, or before), with the one Bot API
        call the answer carries, if any (handlers/telegram/webhook_reply.py); (False, None): refuse it, and
        Telegram posts it again later. MalformedUpdate when ``data`` is not an update."""
        slot, token = webhook_reply.offer()
        try:
            handled = await self._receive(data)
        finally:
            webhook_reply.close(token)
        return handled, slot.call if handled else None

    async def _receive(self, data: dict[str, Any]) -> bool:
        try:
            kind = update_shape.check(data)
        except update_shape.BadUpdate as exc:
            raise MalformedUpdate(str(exc)) from None
        if update_shape.dropped(kind):
            # A kind setWebhook did not ask for: not Telegram's doing, and no handler of ours expects it.
            # Acknowledged (nothing to post again) and not handled.
            log.warning("update %s of a kind the bot does not take (%s) dropped", data["update_id"], kind[:32])
            return True
        try:
            update = Update.de_json(data, self._application.bot)
        except Exception as exc:
            # de_json only builds objects from the body, touching nothing; what it raises on a body that passed
            # the shape check (AttributeError, TypeError, OSError, OverflowError, …: whatever a constructor
            # hits) means a malformed update, not a failure of ours to retry.
            raise MalformedUpdate(f"{kind}: not buildable ({type(exc).__name__})") from None
        update_id = update.update_id
        seen = await self._ledger.seen(update_id)
        if seen.answered:
            log.info("update %s came again; already answered", update_id)
            return True
        person = sender_of(update)
        lock = self._locks.hold(person) if person is not None else contextlib.nullcontext()
        processor = self._application.update_processor
        try:
            async with lock:
                with attempt(last=seen.failures + 1 >= self._attempts) as current:
                    await processor.process_update(update, self._application.process_update(update))
        except LockTimeout:
            log.warning("update %s waited too long for its person's lock; Telegram will post it again", update_id)
            return False
        except Exception:
            # Nothing of it was committed (its unit rolled back): handled afresh when Telegram posts it again.
            log.exception("update %s could not be handled; Telegram will post it again", update_id)
            await self._ledger.failed(update_id)
            return False
        if current.failed:
            await self._ledger.failed(update_id)
            if not current.last:
                return False
            log.error("update %s failed %d times; given up (the person was told)", update_id, self._attempts)
        await self._ledger.answered(update_id)
        return True
