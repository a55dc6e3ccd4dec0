"""The Telegram notice worker: sends queued notices (bot.core.notices) and falls back to SMS when it must.

Runs beside python-telegram-bot's polling, woken by each new notice and by a short poll (to pick up retries
and notices queued by other processes, e.g. `qyzmet import`). A 429 is honoured for its retry_after;
network trouble is retried with backoff; 403 (blocked, deactivated) marks the person blocked and sends the
SMS form instead, so the notice still reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.i18n import as_lang
from bot.services import Services
from handlers.telegram.rate_limit import retry_after_seconds
from store.notices import QueuedNotice

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
POLL_SECONDS = 2.0


class NoticeWorker:
    def __init__(self, services: Services, bot: Bot) -> None:
        self._services = services
        self._bot = bot
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telegram-notices")

    async def stop(self) -> None:
        if self._task is not None:
            # The flag as well as the cancel: an HTTP client may turn a cancellation into a network error,
            # which _deliver treats as "retry later" — the loop must still end.
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(self._task, 10)
            self._task = None

    async def _run(self) -> None:
        wake = self._services.notices.wake
        while not self._stopping:
            try:
                await self.process_due()
            except Exception:  # keep the worker alive; the notices stay queued
                log.exception("notice worker pass failed")
            wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)

    async def process_due(self) -> int:
        """Send every notice that is due. Returns how many were attempted."""
        repo = self._services.notices.repo
        attempted = 0
        while not self._stopping and (batch := await repo.due(self._services.clock.now().timestamp())):
            for notice in batch:
                if self._stopping:
                    break
                await self._deliver(notice)
                attempted += 1
        return attempted

    async def _deliver(self, notice: QueuedNotice) -> None:
        services = self._services
        repo, now = services.notices.repo, services.clock.now()
        prefs = await services.users.notice_preferences(notice.user_id)
        if prefs is not None and not prefs[1]:  # turned off after the notice was queued
            await repo.finish(notice.id, "off", now)
            return
        lang = as_lang(prefs[0] if prefs else None)
        text = escape(services.notices.render(lang, notice.key, notice.params))
        markup = None
        if "_open" in notice.params:  # a button to open the matter the notice is about
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(services.texts(lang, "btn.open"),
                                                                 callback_data=str(notice.params["_open"]))]])
        try:
            await self._bot.send_message(notice.user_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except RetryAfter as exc:
            await repo.retry_later(notice.id, now.timestamp() + retry_after_seconds(exc), "429")
        except (Forbidden, BadRequest) as exc:  # blocked, deactivated, chat not found: Telegram cannot reach them
            if isinstance(exc, Forbidden):
                await services.subscriptions.mark_blocked(notice.user_id, now)
            await self._fallback(notice, lang, type(exc).__name__)
        except NetworkError as exc:
            if notice.attempts + 1 >= MAX_ATTEMPTS:
                await self._fallback(notice, lang, f"network: {type(exc).__name__}")
            else:
                await repo.retry_later(notice.id, now.timestamp() + min(300.0, 2.0 ** notice.attempts),
                                       type(exc).__name__)
        else:
            await repo.finish(notice.id, "sent", now)

    async def _fallback(self, notice: QueuedNotice, lang: str, reason: str) -> None:
        services = self._services
        sent = await services.notices.by_sms(notice.iin, notice.key, notice.params, as_lang(lang))
        await services.notices.repo.finish(notice.id, "by_sms" if sent else "failed", services.clock.now(), reason)
        log.info("notice %s not delivered in Telegram (%s); %s", notice.id, reason,
                 "sent by SMS" if sent else "no phone to fall back to")
