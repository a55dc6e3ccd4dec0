"""Delivering the Telegram outbox: every envelope a person is owed, rendered by the channel at delivery.

One path for all of it (bot/core/outbox.py names the kinds): a turn's replies, a requester's consent outcome
(the certificate is rendered from the registry now, never read from storage), a consent offer in the data
subject's chat, a status notice. The worker claims due envelopes with a lease, and a turn delivers its own
replies the same way right after its commit. One place for Telegram's answers: a 429 waits for retry_after;
network trouble is retried with backoff (what already left is not sent again: after each message of several,
the envelope keeps only the rest, so a sender taking it over after a crash does not repeat them either); 403
(blocked, deactivated) marks the person blocked, and a notice then goes by SMS instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from html import escape
from typing import Any

import segno
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot import faults
from bot.clock import Clock
from bot.core import outbox
from bot.core.outbox import TelegramOutbox
from bot.core.registry_info import Certificate
from bot.gateways import telegram_raw_api as raw_api
from bot.gateways.state_systems import StateSystemUnavailable
from bot.gateways.telegram_rate_limit import retry_after_seconds
from bot.i18n import Lang, as_lang
from bot.services import TelegramServices
from handlers.certificate_pdf import render_pdf
from handlers.telegram import keyboards, render
from handlers.telegram.main_menu import menu_keyboard
from store.telegram_outbox import Envelope

log = logging.getLogger(__name__)

# Envelopes claimed at a time: each worker takes a few, so that several workers share a queue (and the last of a
# batch does not wait long behind the others).
CLAIM_BATCH = 10
# How long a stopping worker waits for the delivery on its way to finish (one message, or a 429's pause).
STOP_GRACE_SECONDS = 5.0

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


@dataclass
class Reply:
    """One message of a turn. ``certificate`` names an application whose certificate follows ``html``; it is
    rendered from the registry when the message is sent (``rendered`` holds it for the turn's own send, and
    is never stored)."""
    html: str
    markup: dict[str, Any] | None = None  # the keyboard's to_dict(): stored so, and sent as it is
    protect: bool = False
    certificate: str | None = None
    lang: str | None = None
    rendered: str | None = field(default=None, repr=False)
    pdf: str | None = None  # the application whose certificate goes as a PDF document, ``html`` its caption
    qr: str | None = None   # a link sent as a QR code picture, ``html`` its caption (a share link)

    def to_json(self) -> dict[str, Any]:
        return {"html": self.html, "markup": self.markup, "protect": self.protect,
                "certificate": self.certificate, "lang": self.lang, "pdf": self.pdf, "qr": self.qr}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return cls(data.get("html") or "", data.get("markup"), bool(data.get("protect")), data.get("certificate"),
                   data.get("lang"), pdf=data.get("pdf"), qr=data.get("qr"))


def markup_json(markup: Markup | None) -> dict[str, Any] | None:
    return markup.to_dict() if markup is not None else None


def _markup(data: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(data, None) if data else None


def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as a PNG, large enough to be scanned off a phone's screen."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=10, border=4)
    return out.getvalue()


class _NotDelivered(Exception):
    """Telegram did not take a message: how it failed, and the replies not sent yet (the earlier ones left)."""

    def __init__(self, failure: outbox.Failure, error: str, left: list[Reply]) -> None:
        super().__init__(error)
        self.failure, self.error, self.left = failure, error, left


class _BatchLease:
    """The lease on a claimed batch, renewed every third of it while the batch is being delivered. ``holds``
    says whether an envelope may still be sent: this sender still has it, and its lease is not in its last third
    (which would mean the renewals fail: the database does not answer, and another sender may take it over)."""

    def __init__(self, outbox: TelegramOutbox, clock: Clock, batch: list[Envelope], lease_seconds: float) -> None:
        self._outbox, self._clock, self._lease = outbox, clock, lease_seconds
        self._ids = {envelope.id for envelope in batch}
        self._until = batch[0].lease_until or 0.0  # one value for the whole batch (its claim)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _BatchLease:
        self._task = asyncio.create_task(self._renew_every(), name="telegram-outbox-lease")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def give_back(self, ids: list[int]) -> None:
        """Put envelopes of the batch that were not attempted back in the queue (this worker stops)."""
        held = [envelope_id for envelope_id in ids if envelope_id in self._ids]
        try:
            await self._outbox.give_back(held, self._until)
        except Exception:  # they wait for their lease to run out instead
            log.warning("claimed Telegram outbox envelopes could not be put back in the queue", exc_info=True)
        self._ids.difference_update(held)

    def holds(self, envelope_id: int) -> bool:
        left = self._until - self._clock.now().timestamp()
        return envelope_id in self._ids and left > self._lease / 3

    async def _renew_every(self) -> None:
        while self._ids:
            await asyncio.sleep(self._lease / 3)
            try:
                kept, until = await self._outbox.renew(sorted(self._ids), self._until, self._lease)
            except Exception:  # the lease runs on; ``holds`` stops the sends before it ends
                log.warning("the lease of a Telegram outbox batch could not be renewed", exc_info=True)
                continue
            self._ids &= kept  # settled, back in the queue, or taken over: no longer this sender's
            self._until = until


class TelegramDelivery:
    def __init__(self, services: TelegramServices, bot: Bot) -> None:
        self._services = services
        self._bot = bot
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # The worker ------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The worker was started and has not ended (readiness)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False  # started again after a stop
            self._task = asyncio.create_task(self._run(), name="telegram-outbox")

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Take no more envelopes; let the one on its way finish and be settled, then end. Cancelled, it might
        have reached Telegram unsettled: another worker would send it again once its lease ran out. After
        ``grace`` seconds it is cancelled all the same."""
        if self._task is None:
            return
        self._stopping = True
        self._services.telegram_outbox.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except Exception:  # the grace ran out (or the loop failed)
            # The flag as well as the cancel: an HTTP client may turn a cancellation into a network error,
            # which is "retry later" here — the loop must still end.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10)
        self._task = None

    async def _run(self) -> None:
        wake = self._services.telegram_outbox.wake
        while not self._stopping:
            wake.clear()  # before the pass: a wake-up that comes during it is not lost
            try:
                await self.process_due()
            except Exception:  # keep the worker alive; the envelopes stay queued
                log.exception("Telegram outbox pass failed")
            if self._stopping:  # (stop sets the flag, then the event: one of the two is seen here)
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), self._services.settings.telegram_worker_idle_seconds)

    async def process_due(self) -> int:
        """Deliver every envelope that is due. Returns how many were attempted.

        A few envelopes are claimed at a time, so that other workers take the rest meanwhile; their lease is
        renewed in the background while they are delivered (_BatchLease), so that one held up (behind the others
        of its batch, by a 429, by a slow registry) is not taken over and sent twice. An envelope this worker no
        longer holds is left to the sender that took it over."""
        services = self._services
        queue, lease = services.telegram_outbox, services.settings.telegram_lease_seconds
        attempted = 0
        while not self._stopping:
            batch = await queue.claim_due(lease, CLAIM_BATCH)
            if not batch:
                break
            async with _BatchLease(queue, services.clock, batch, lease) as held:
                if self._stopping:  # back to the queue at once, for the other workers
                    await held.give_back([e.id for e in batch])
                    break
                # Each envelope of a claim is the head of its own chat's queue: different chats, delivered side by
                # side (a slow render, or one chat's 429, does not hold up the others; the pace is the limiter's).
                results = await asyncio.gather(*(self._deliver_held(held, e) for e in batch), return_exceptions=True)
                for envelope, result in zip(batch, results, strict=True):
                    if isinstance(result, BaseException):
                        log.error("delivering envelope %s failed", envelope.id, exc_info=result)
                    elif result:
                        attempted += 1
        return attempted

    async def _deliver_held(self, held: _BatchLease, envelope: Envelope) -> bool:
        if not held.holds(envelope.id):
            log.warning("envelope %s is no longer held (its lease could not be renewed, or another sender took it "
                        "over): not sent here", envelope.id)
            return False
        await self.deliver(envelope)
        return True

    # One envelope ----------------------------------------------------------------------------------------

    async def deliver_own(self, envelope: Envelope, replies: list[Reply]) -> None:
        """A turn's own envelope, claimed by its commit, delivered right after it: under its lease, renewed while
        the delivery lasts (a 429 on the chat may hold it longer than the lease), so that a worker does not take
        it over and send the replies a second time."""
        lease = self._services.settings.telegram_lease_seconds
        async with _BatchLease(self._services.telegram_outbox, self._services.clock, [envelope], lease):
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
                    await self._bot.send_photo(chat_id, qr_png(reply.qr), caption=reply.html,
                                               parse_mode=ParseMode.HTML, reply_markup=_markup(reply.markup),
                                               protect_content=reply.protect)
                else:
                    # The answer is not read: no Message object is built from it (raw_api.py).
                    await raw_api.send_html(self._bot, chat_id, html if html is not None else reply.html,
                                            reply.markup or None, protect=reply.protect)
            except RetryAfter as exc:
                raise _NotDelivered(outbox.Failure("rate_limited", retry_after_seconds(exc)), "429",
                                    replies[index:]) from exc
            except Forbidden as exc:
                raise _NotDelivered(outbox.Failure("blocked"), type(exc).__name__, replies[index:]) from exc
            except BadRequest as exc:
                raise _NotDelivered(outbox.Failure("unreachable"), type(exc).__name__, replies[index:]) from exc
            except NetworkError as exc:
                raise _NotDelivered(outbox.Failure("network"), f"network: {type(exc).__name__}",
                                    replies[index:]) from exc
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
        certificate = await self._services.registry_info.certificate_for(reply.pdf)
        if certificate is None:  # its result is no longer given: nothing to send
            log.warning("a PDF was owed for an application without a result")
            return
        # Some tens of milliseconds of CPU (render, seal, sign): off the event loop, so other people's updates
        # are not held up.
        data = await asyncio.to_thread(self._signed_pdf, as_lang(reply.lang), certificate)
        await self._bot.send_document(chat_id, data, filename=f"{certificate.number}.pdf", caption=reply.html,
                                      parse_mode=ParseMode.HTML)

    def _signed_pdf(self, lang: Lang, certificate: Certificate) -> bytes:
        """Rendered (its QR code the seal the certificate was made with: RegistryInfoService) and signed."""
        services = self._services
        return services.issuer.sign_pdf(render_pdf(services.texts, lang, certificate))

    async def _certificate_html(self, reply: Reply) -> str:
        assert reply.certificate is not None
        lang = as_lang(reply.lang)
        certificate = await self._services.registry_info.certificate_for(reply.certificate)
        body = render.certificate(self._services.texts, lang, certificate) if certificate else ""
        return "\n\n".join(part for part in (reply.html, body) if part)

    async def _render(self, envelope: Envelope, lang: Lang) -> list[Reply]:
        services, payload = self._services, envelope.payload
        if envelope.kind == outbox.MESSAGES or "messages" in payload:  # a turn's, or what is left after a retry
            return [Reply.from_json(item) for item in payload.get("messages", [])]
        t = services.texts
        if envelope.kind == outbox.NOTICE:
            params = payload.get("params", {})
            markup = None
            rows = []
            if "_open" in params:  # a button to open the matter the notice is about
                rows.append([InlineKeyboardButton(t(lang, "btn.open"), callback_data=str(params["_open"])).to_dict()])
            if "_complain" in params:  # a refusal: a complaint about it, the application filled in
                rows.append([InlineKeyboardButton(t(lang, "cp.btn.file"),
                                                  callback_data=str(params["_complain"])[:64]).to_dict()])
            if rows:
                markup = {"inline_keyboard": rows}
            return [Reply(escape(services.notices.render(lang, payload["key"], params)), markup)]
        if envelope.kind == outbox.CONSENT_OFFER:
            from handlers.telegram import keyboards
            text = t(lang, "cabinet.request", number=payload["number"],
                     service=t(lang, f"service.{payload['service']}.short"),
                     name=payload.get("requester_name", ""), iin=payload.get("requester_iin", ""))
            tag = services.registry_info.offer_tag(payload["number"], envelope.chat_id)
            return [Reply(escape(text), markup_json(keyboards.consent_decision(t, lang, payload["number"], tag)))]
        if envelope.kind == outbox.CERTIFICATE_PDF:
            return [Reply(escape(t(lang, "cert.pdf_caption", number=payload["number"])), protect=True, lang=lang,
                          pdf=payload["number"])]
        if envelope.kind == outbox.CONSENT_OUTCOME:
            return await self._consent_outcome(envelope.chat_id, lang, payload["number"], payload["outcome"],
                                               payload.get("due"))
        if envelope.kind == outbox.REGISTRY_RESULT:
            return await self._late_result(envelope.chat_id, lang, payload["number"])
        log.error("Telegram outbox envelope %s of unknown kind %s", envelope.id, envelope.kind)
        return []

    async def _late_result(self, chat_id: int, lang: Lang, number: str) -> list[Reply]:
        """A result the registry gave after the request was acknowledged: the certificate, rendered now."""
        t = self._services.texts
        return [Reply(escape(t(lang, "registry.result_came", number=number)), protect=True, certificate=number,
                      lang=lang), await self._menu(chat_id, lang)]

    async def _menu(self, chat_id: int, lang: Lang) -> Reply:
        identified = await self._services.identity.current(chat_id) is not None
        menu = await menu_keyboard(self._services, chat_id, lang, identified)
        return Reply(escape(self._services.texts(lang, "menu.title")), markup_json(menu))

    async def _consent_outcome(self, chat_id: int, lang: Lang, number: str, outcome: str,
                               due: str | None = None) -> list[Reply]:
        t = self._services.texts
        if outcome == "given":
            first = [Reply(escape(t(lang, "tp.consent_given", number=number))),
                     Reply("", markup_json(keyboards.certificate(t, lang, number)), protect=True, certificate=number,
                           lang=lang)]
        elif outcome == "pending":
            when = render.when(datetime.fromisoformat(due), lang) if due else ""
            first = [Reply(escape(t(lang, "tp.consent_given_pending", number=number, due=when)))]
        else:
            first = [Reply(escape(t(lang, f"tp.refused_{outcome}", number=number,
                                    ground=t(lang, "refusal.no_consent"))))]
        identified = await self._services.identity.current(chat_id) is not None
        menu = await menu_keyboard(self._services, chat_id, lang, identified)
        return [*first, Reply(escape(t(lang, "menu.title")), markup_json(menu))]

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
