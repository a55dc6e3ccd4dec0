"""What registry requests owe people, written in the caller's unit of work: the consent request SMS, the offers in
the subject's chats, the subject's notice that their data was provided, the requester's outcome in their chat.

Nothing here asks an outside system: what a message says about the requester (``requester``: masked name and
IIN, bot/core/registry_sources.py) is asked by the caller before its unit begins.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.conversation import ConversationService
from bot.core.otp import Issued
from bot.core.outbox import CONSENT_OFFER, CONSENT_OUTCOME, NOTICE, REGISTRY_RESULT, TelegramOutbox
from bot.core.sms_sending import SmsService
from bot.domain.catalog import get_service
from bot.domain.model import Application, Consent
from bot.i18n import Lang, Texts, format_short
from store.db import utc_iso
from store.users import UserRepository


class RegistryMessages:
    def __init__(self, sms: SmsService, telegram: TelegramOutbox, users: UserRepository,
                 conversation: ConversationService, texts: Texts) -> None:
        self._sms = sms
        self._telegram = telegram
        self._users = users
        self._conversation = conversation
        self._texts = texts

    async def consent_request(self, app: Application, consent: Consent, issued: Issued, lang: Lang,
                              requester: tuple[str, str]) -> None:
        name, iin = requester
        sms_lang = await self._sms.language_for(consent.subject_phone, consent.subject_iin, lang)
        text = self._texts(
            sms_lang, "sms.consent_request", name=name, iin=iin,
            register=self._texts(sms_lang, f"sms.register.{get_service(app.service).register}"), code=issued.code,
        )
        await self._sms.send(consent.subject_phone, text, kind="interactive",
                             expires_at=issued.expires_at.timestamp())

    async def offer_in_subject_chats(self, app: Application, consent: Consent, requester: tuple[str, str]) -> None:
        """The subject, if they use the bot, may also decide in their own chat (the seeds' personal cabinet):
        every chat linked to the subject's IIN is offered the request, verified right now or not (deciding
        asks for a fresh identity: ConsentService.decide_as_subject). Not the requester's own chat, even if it
        was once verified as the subject: the decision is the subject's."""
        name, iin = requester
        for chat_id in await self._users.linked_chats(consent.subject_iin):
            if chat_id == app.requester_user_id:
                continue
            await self._telegram.owe(chat_id, CONSENT_OFFER, {
                "number": app.number, "service": app.service, "requester_name": name, "requester_iin": iin})

    async def subject_provided(self, app: Application, consent: Consent, now: datetime,
                               requester: tuple[str, str]) -> None:
        """The subject is told to whom and when their data was given: by SMS (the notice of record) and in
        their own chats, when they use the bot (so the Telegram one has no SMS fallback of its own)."""
        name, iin = requester
        requester_lang = (await self._users.language(app.requester_user_id)) if app.requester_user_id else None
        lang = await self._sms.language_for(consent.subject_phone, consent.subject_iin, requester_lang)
        text = self._texts(
            lang, "sms.data_provided",
            register=self._texts(lang, f"sms.register.{get_service(app.service).register}"),
            name=name, iin=iin, when=format_short(now),
        )
        await self._sms.send(consent.subject_phone, text, kind="notice")
        params = {"number": app.number, "register": {"text": f"sms.register.{get_service(app.service).register}"},
                  "name": name, "iin": iin, "when": {"when": now.isoformat()}}
        for chat_id in await self._users.linked_chats(consent.subject_iin):
            await self._telegram.owe(chat_id, NOTICE, {"key": "subject.data_provided", "params": params, "iin": None},
                                     label="subject.data_provided")

    async def requester_told(self, app: Application, outcome: str) -> None:
        """The requester is owed the outcome in their chat, and no longer waits for a code."""
        if app.requester_user_id is None:
            return
        payload = {"number": app.number, "outcome": outcome}
        if outcome == "pending":  # consent given, the result follows: by when it is due
            payload["due"] = utc_iso(app.due_at)
        await self._telegram.owe(app.requester_user_id, CONSENT_OUTCOME, payload, label=f"consent_{outcome}")
        await self._conversation.stop_waiting_for_code(app.requester_user_id, app.number)

    async def result_owed(self, app: Application) -> None:
        """The result the registry answered late goes to the requester's chat."""
        if app.requester_user_id is not None:
            await self._telegram.owe(app.requester_user_id, REGISTRY_RESULT, {"number": app.number},
                                     label="registry_result")
