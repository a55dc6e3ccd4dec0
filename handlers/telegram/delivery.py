"""Delivering one envelope of the Telegram outbox: every envelope a person is owed, rendered by the channel at
delivery.

One path for all of it (bot/core/outbox.py names the kinds): a turn's replies, a requester's consent outcome
(the certificate is rendered from the registry now, never read from storage), a consent offer in the data
subject's chat, a status notice. The worker's job (bot/core/outbox_worker.py) claims due envelopes with a lease
and hands each to ``TelegramDelivery.deliver``; a turn delivers its own replies the same way right after its
commit. What each kind looks like is envelope_render.py's (pure functions); the Bot API calls and what
Telegram's refusals mean are bot/gateways/telegram_send.py's. One place for what follows a refusal: a 429 waits
for retry_after; network trouble is retried with backoff (what already left is not sent again: after each
message of several, the envelope keeps only the rest, so a sender taking it over after a crash does not repeat
them either); 403 (blocked, deactivated) marks the person blocked, and a notice then goes by SMS instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from telegram import Bot

from bot import faults
from bot.core import outbox
from bot.core.registry_info import Certificate
from bot.gateways import telegram_send
from bot.gateways.state_systems import StateSystemUnavailable
from bot.i18n import Lang, as_lang
from bot.services import TelegramServices
from handlers.certificate_pdf import render_pdf
from handlers.telegram import envelope_render
from handlers.telegram.main_menu import menu_keyboard
from handlers.telegram.replies import Markup, Reply, markup_json, qr_png
from store.telegram_outbox import Envelope

__all__ = ["Markup", "Reply", "TelegramDelivery", "markup_json"]  # a turn's replies are delivered here too

log = logging.getLogger(__name__)


class _NotDelivered(Exception):
    """Telegram did not take a message: how it failed, and the replies not sent yet (the earlier ones left)."""

    def __init__(self, failure: outbox.Failure, error: str, left: list[Reply]) -> None:
        super().__init__(error)
        self.failure, self.error, self.left = failure, error, left


class TelegramDelivery:
    def __init__(self, services: TelegramServices, bot: Bot) -> None:
        self._services = services
        self._bot = bot

    # One envelope ----------------------------------------------------------------------------------------

    async def deliver_own(self, envelope: Envelope, replies: list[Reply]) -> None:
        """A turn's own envelope, claimed by its commit, delivered right after it: under its lease, renewed while
        the delivery lasts (a 429 on the chat may hold it longer than the lease), so that a worker does not take
        it over and send the replies a second time."""
        async with self._services.telegram_worker.hold([envelope]):
            await self.deliver(envelope, replies)

    async def deliver(self, envelope: Envelope, replies: list[Reply] | None = None) -> None:
        """Render and send one claimed envelope, then settle it; on failure, the core's policy
        (bot.core.outbox.after_failure) says whether to retry, fall back to SMS, or give up."""
        services = self._services
        # A turn's own replies come rendered: no need to read the person's language for them.
        lang = None if replies is not None else as_lang(await services.conversation.language(envelope.chat_id))
        if envelope.kind == outbox.NOTICE and not (await services.subscriptions.preferences(envelope.chat_id)
                                                    ).status_notices:
            await self._settle(envelope, "off")  # turned off after the notice was owed
            return
        try:
            if replies is None:
                assert lang is not None
                replies = await self._render(envelope, lang)
            await self._send_all(envelope.chat_id, replies, partial(self._part_sent, envelope))
        except _NotDelivered as failed:
            await self._after_failure(envelope, lang, failed)
            return
        faults.point("before_settle", ("telegram", envelope.kind))
        await self._settle(envelope, "sent")

    async def send_direct(self, chat_id: int, replies: list[Reply]) -> None:
        """Send replies that no envelope holds (an update that changed nothing)."""
        try:
            await self._send_all(chat_id, replies)
        except _NotDelivered as failed:
            if failed.failure.kind == "blocked":
                await self._services.subscriptions.mark_blocked(chat_id)
            log.warning("replies not sent (%s)", failed.error)

    async def _send_all(self, chat_id: int, replies: list[Reply],
                        part_sent: Callable[[list[Reply]], Awaitable[None]] | None = None) -> None:
        """Send the replies in order; after each one that left while more follow, ``part_sent(the rest)``."""
        for index, reply in enumerate(replies):
            html = reply.rendered
            if html is None and reply.certificate is not None:
                try:
                    html = await self._certificate_html(reply)
                except StateSystemUnavailable as exc:  # rendered from the registry when it answers again
                    raise _NotDelivered(outbox.Failure("source_down"), f"certificate: {exc.reason}",
                                        replies[index:]) from exc
            try:
                if reply.pdf is not None:
                    await self._send_pdf(chat_id, reply)
                elif reply.qr is not None:
                    await telegram_send.send_photo(self._bot, chat_id, qr_png(reply.qr), reply.html, reply.markup,
                                                   reply.protect)
                else:
                    await telegram_send.send_html(self._bot, chat_id, html if html is not None else reply.html,
                                                  reply.markup, reply.protect)
            except telegram_send.Refused as refused:
                raise _NotDelivered(outbox.Failure(refused.kind, refused.retry_after), refused.error,
                                    replies[index:]) from refused
            if part_sent is not None and index + 1 < len(replies):
                await part_sent(replies[index + 1:])

    async def _part_sent(self, envelope: Envelope, left: list[Reply]) -> None:
        """Part of an envelope has left: its row keeps only the rest, so that a sender taking it over after a
        crash (the lease ran out) sends what had not left, not the whole envelope again. A notice is one
        message."""
        if envelope.kind == outbox.NOTICE:
            return
        await self._services.telegram_outbox.sent_part(envelope.id, {"messages": [r.to_json() for r in left]})
        faults.point("after_part", ("telegram", envelope.kind))

    async def _send_pdf(self, chat_id: int, reply: Reply) -> None:
        """The certificate as a signed PDF, rendered from the registry now (never stored). Not protected, unlike
        the message: the holder saves, prints and forwards it to whoever asked for it, and its signature and QR
        code, not Telegram, are what keep it from being altered."""
        assert reply.pdf is not None
        certificate = await self._services.results.certificate_for(reply.pdf)
        if certificate is None:  # its result is no longer given: nothing to send
            log.warning("a PDF was owed for an application without a result")
            return
        # Some tens of milliseconds of CPU (render, seal, sign): off the event loop, so other people's updates
        # are not held up.
        data = await asyncio.to_thread(self._signed_pdf, as_lang(reply.lang), certificate)
        await telegram_send.send_document(self._bot, chat_id, data, f"{certificate.number}.pdf", reply.html)

    def _signed_pdf(self, lang: Lang, certificate: Certificate) -> bytes:
        """Rendered (its QR code the seal the certificate was made with: ResultDelivery) and signed."""
        services = self._services
        return services.issuer.sign_pdf(render_pdf(services.texts, lang, certificate))

    async def _certificate_html(self, reply: Reply) -> str:
        assert reply.certificate is not None
        certificate = await self._services.results.certificate_for(reply.certificate)
        return envelope_render.with_certificate(self._services.texts, as_lang(reply.lang), reply.html, certificate)

    async def _render(self, envelope: Envelope, lang: Lang) -> list[Reply]:
        """Read what the envelope's kind needs, then draw it (envelope_render.py)."""
        services, payload, t = self._services, envelope.payload, self._services.texts
        if envelope.kind == outbox.MESSAGES or "messages" in payload:  # a turn's, or what is left after a retry
            return [Reply.from_json(item) for item in payload.get("messages", [])]
        if envelope.kind == outbox.NOTICE:
            params = payload.get("params", {})
            return envelope_render.notice(t, lang, services.notices.render(lang, payload["key"], params), params)
        if envelope.kind == outbox.CONSENT_OFFER:
            tag = services.consents.offer_tag(payload["number"], envelope.chat_id)
            return envelope_render.consent_offer(t, lang, payload, tag)
        if envelope.kind == outbox.CERTIFICATE_PDF:
            return envelope_render.certificate_pdf(t, lang, payload["number"])
        if envelope.kind == outbox.CONSENT_OUTCOME:
            return envelope_render.consent_outcome(t, lang, payload["number"], payload["outcome"],
                                                   payload.get("due"), await self._menu(envelope.chat_id, lang))
        if envelope.kind == outbox.REGISTRY_RESULT:
            return envelope_render.late_result(t, lang, payload["number"], await self._menu(envelope.chat_id, lang))
        log.error("Telegram outbox envelope %s of unknown kind %s", envelope.id, envelope.kind)
        return []

    async def _menu(self, chat_id: int, lang: Lang) -> Reply:
        identified = await self._services.identity.current(chat_id) is not None
        return envelope_render.menu(self._services.texts, lang,
                                    await menu_keyboard(self._services, chat_id, lang, identified))

    async def _after_failure(self, envelope: Envelope, lang: Lang | None, failed: _NotDelivered) -> None:
        services = self._services
        if failed.failure.kind == "blocked":
            await services.subscriptions.mark_blocked(envelope.chat_id)
        decision = outbox.after_failure(envelope.kind, envelope.attempts, failed.failure)
        if isinstance(decision, outbox.Retry):
            # What has not left yet, rendered (a certificate stays a reference, never its content).
            left = {"messages": [r.to_json() for r in failed.left]} if envelope.kind != outbox.NOTICE else None
            await services.telegram_outbox.retry_later(envelope.id, decision.delay, failed.error, left)
        elif isinstance(decision, outbox.Fallback):
            await self._fallback(envelope, lang or as_lang(await services.conversation.language(envelope.chat_id)),
                                 failed.error)
        else:
            log.warning("envelope %s (%s) not delivered: %s", envelope.id, envelope.kind, failed.error)
            await self._settle(envelope, "failed", failed.error)

    async def _fallback(self, envelope: Envelope, lang: str, reason: str) -> None:
        """The notice goes by SMS instead: the SMS and the settled envelope are one unit."""
        services, payload = self._services, envelope.payload
        try:
            outcome = await services.notices.instead_by_sms(envelope.id, payload.get("iin"), payload["key"],
                                                            payload.get("params", {}), lang, reason)
        except StateSystemUnavailable as exc:  # the phone cannot be had now: the envelope waits and comes back
            await services.telegram_outbox.retry_later(envelope.id, 60, f"{reason}; SMS fallback: {exc.reason}")
            return
        log.info("notice %s not delivered in Telegram (%s); %s", envelope.id, reason, {
            "by_sms": "sent by SMS", "no_phone": "no phone to fall back to",
            "settled_already": "another sender settled it meanwhile"}[outcome])

    async def _settle(self, envelope: Envelope, status: str, error: str | None = None) -> None:
        await self._services.telegram_outbox.settle(envelope.id, status, error)
