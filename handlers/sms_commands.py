"""The SMS channel adapter: a keyword command becomes a core call, the result a short localized reply.

Commands are case-insensitive and answered in the language of the keyword. Kazakh and Russian keywords
have Latin spellings too; a message that names no language (a word both languages share, "STOP", "NO"; a bare
code; a bare application number) is answered in the language the phone last used (SmsInboundService.language),
else Kazakh. No business rule lives here (see bot/core/sms_inbound.py), and no registry
result or medical status is ever put in an SMS: status replies carry only the application's stage.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot.core.otp import parse_code
from bot.core.registry_info import Accepted, Delivered
from bot.core.sms_inbound import (
    Answer,
    CannotCheckNow,
    CodeExpired,
    CodeNeeded,
    ComplaintFound,
    Decided,
    NoPending,
    ReplyAsked,
    SmsInboundService,
    StatusAnswer,
    StatusFound,
    WrongCode,
)
from bot.core.sms_sending import SmsService
from bot.domain.catalog import get_service
from bot.domain.numbers import APPLICATIONS, COMPLAINTS
from bot.domain.phone import mask_phone
from bot.i18n import DEFAULT_LANG, Lang, Texts, format_short

log = logging.getLogger(__name__)

Action = Literal["yes", "no", "status", "stop", "start", "help"]

# keyword -> (action, language or None when the spelling is shared by both languages)
KEYWORDS: dict[str, tuple[Action, Lang | None]] = {}


def _words(action: Action, lang: Lang | None, *spellings: str) -> None:
    for spelling in spellings:
        KEYWORDS[spelling] = (action, lang)


_words("yes", "kk", "ИӘ", "ИЯ", "IA", "IYA", "IÁ")
_words("yes", "ru", "ДА", "DA")
_words("yes", None, "YES")
_words("no", "kk", "ЖОҚ", "ЖОК", "JOQ", "JOK", "ZHOQ", "ZHOK")
_words("no", "ru", "НЕТ", "NET")
_words("no", None, "NO")
_words("status", "kk", "МӘРТЕБЕ", "МАРТЕБЕ", "MARTEBE", "MÁRTEBE")
_words("status", "ru", "СТАТУС")
_words("status", None, "STATUS")
_words("stop", "kk", "ТОҚТА", "ТОКТА", "TOQTA", "TOKTA")
_words("stop", "ru", "СТОП")
_words("stop", None, "STOP")
_words("start", "kk", "БАСТА", "BASTA")
_words("start", "ru", "СТАРТ")
_words("start", None, "START")
_words("help", "kk", "КӨМЕК", "КОМЕК", "KOMEK", "KÓMEK")
_words("help", "ru", "ПОМОЩЬ", "ПОМОЩ", "POMOSH", "POMOSHCH", "POMOSCH", "СПРАВКА")
_words("help", None, "HELP")

_KAZAKH_LETTERS = frozenset("ӘҒҚҢӨҰҮҺІ")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_TOKEN_SPLIT = re.compile(r"[\s,.;:!?()\"'«»]+")
_DIGITS = re.compile(r"[0-9][0-9\-]*", re.ASCII)  # "482913", "482-913"
MAX_TEXT = 480  # a long message cannot be a command; it gets the help text without being parsed


@dataclass(frozen=True)
class Command:
    """What an SMS asks for.

    `lang` is the keyword's language (None when the spelling is shared: then the phone's last language);
    `hint` is a weaker guess from the script of a text that is no command (Cyrillic without Kazakh letters).
    """
    action: Action | Literal["unknown"]
    lang: Lang | None
    code: str | None = None  # consent replies
    argument: str = ""      # status: the application number as typed
    hint: Lang | None = None


def _guess_lang(text: str) -> Lang | None:
    if any(ch in _KAZAKH_LETTERS for ch in text):
        return "kk"
    return None


def parse_sms(text: str) -> Command:
    """Read an incoming SMS. Total: any text gives a Command (unknown ones get the help text)."""
    normal = unicodedata.normalize("NFC", text[:MAX_TEXT + 1]).strip().upper()
    if len(text) > MAX_TEXT:
        return Command("unknown", _guess_lang(normal))
    tokens = [t for t in _TOKEN_SPLIT.split(normal) if t]
    if not tokens:
        return Command("help", None)
    # A bare application or complaint number ("QZ-261125-0482913", "cp 261125 0012345") asks for its status.
    if APPLICATIONS.parse(normal) or COMPLAINTS.parse(normal):
        return Command("status", None, argument=normal)
    words = [t for t in tokens if not _DIGITS.fullmatch(t)]
    digits = "".join(t.replace("-", "") for t in tokens if _DIGITS.fullmatch(t))
    # A consent reply: the code alone, or one yes/no word with or without the code ("ДА 482 913").
    if not words and parse_code(digits):
        return Command("yes", None, code=digits)
    if len(words) == 1 and words[0] in KEYWORDS and KEYWORDS[words[0]][0] in ("yes", "no"):
        action, lang = KEYWORDS[words[0]]
        if not digits or parse_code(digits):
            return Command(action, lang, code=digits or None)
        return Command("unknown", lang)
    first = tokens[0]
    if first in KEYWORDS and KEYWORDS[first][0] not in ("yes", "no"):
        action, lang = KEYWORDS[first]
        rest = normal[normal.find(first) + len(first):]
        return Command(action, lang, argument=rest.strip(" \t\r\n,.;:!?()\"'«»"))
    return Command("unknown", _guess_lang(normal), hint="ru" if _CYRILLIC.search(normal) else None)


class SmsHandler:
    """Answers one inbound SMS: core calls, then a reply through the outbox (interactive, so before notices),
    all in the message's one unit of work (SmsInboundService.received)."""

    def __init__(self, inbound: SmsInboundService, sms: SmsService, texts: Texts) -> None:
        self._inbound = inbound
        self._sms = sms
        self._t = texts

    async def handle(self, phone: str, text: str, gateway_id: str | None = None) -> bool:
        """Act on the message and owe its reply; False when ``gateway_id`` was handled already (a repeat)."""
        async with self._inbound.received(gateway_id) as message:
            if message.fresh:
                await self._handle(phone, text)
        return message.fresh

    async def _handle(self, phone: str, text: str) -> None:
        command = parse_sms(text)
        if command.lang is not None:
            lang: Lang = command.lang
        else:
            known = await self._inbound.language(phone, command.hint)
            lang = known if known in ("kk", "ru") else DEFAULT_LANG  # type: ignore[assignment]
        log.info("SMS from %s: %s", mask_phone(phone), command.action)
        asked = await self._ask_first(phone, command)  # outside systems, before the message writes anything
        if command.lang is not None:
            await self._inbound.remember_language(phone, command.lang)
        may_reply = await self._sms.may_reply(phone)  # read before acting: what the reply will carry depends on it
        reply = await self._answer(phone, command, lang, may_reply, asked)
        if reply and may_reply:
            await self._sms.send(phone, reply, kind="interactive")
        elif reply:
            log.warning("SMS from %s acted on, not answered: the per-phone hourly cap on replies", mask_phone(phone))

    async def _ask_first(self, phone: str, command: Command) -> StatusAnswer | ReplyAsked | None:
        """What the message needs from outside systems: a status (whose phone may see it), or for a consenting
        code, the result it will give."""
        if command.action == "status":
            return await self._inbound.status(phone, command.argument)
        if command.action in ("yes", "no"):
            return await self._inbound.ask_for_reply(phone, command.action, command.code)
        return None

    async def _answer(self, phone: str, command: Command, lang: Lang, may_reply: bool,
                      asked: StatusAnswer | ReplyAsked | None) -> str | None:
        t = self._t
        if command.action in ("yes", "no"):
            return await self._consent(phone, command, lang, may_reply,
                                       asked if isinstance(asked, ReplyAsked) else None)
        if command.action == "status":
            found = asked
            if isinstance(found, ComplaintFound):
                c = found.complaint
                return t(lang, "smsin.complaint_status", number=c.number, status=t(lang, f"complaint.state.{c.state}"),
                         due=format_short(c.due_at))
            if isinstance(found, CannotCheckNow):
                return t(lang, "smsin.try_later")
            if not isinstance(found, StatusFound):
                return t(lang, "smsin.not_found")
            app = found.app
            key = f"status.{app.status}"
            status = t(lang, key) if t.has(lang, key) else app.status
            due = format_short(app.due_at)
            return t(lang, "smsin.status", number=app.number, status=status, due=due)
        if command.action == "stop":
            await self._inbound.stop(phone)
            return t(lang, "smsin.stopped")
        if command.action == "start":
            await self._inbound.start(phone)
            return t(lang, "smsin.started")
        return t(lang, "smsin.help")

    async def _consent(self, phone: str, command: Command, lang: Lang, may_reply: bool,
                       asked: ReplyAsked | None) -> str:
        t = self._t
        assert command.action in ("yes", "no")
        answer: Answer = "yes" if command.action == "yes" else "no"
        # When the reply goes out, it tells the subject to whom and when their data went (one SMS, not two).
        result = await self._inbound.consent_reply(phone, answer, command.code, reply_tells=may_reply, asked=asked)
        if isinstance(result, NoPending):
            return t(lang, "smsin.no_pending")
        if isinstance(result, CodeNeeded):
            if result.pending == 1:
                return t(lang, "smsin.code_needed")
            return t(lang, "smsin.code_needed_many", n=result.pending)
        if isinstance(result, CodeExpired):
            return t(lang, "smsin.code_expired")
        if isinstance(result, WrongCode):
            if result.ended or result.attempts_left is None:
                return t(lang, "smsin.locked") if result.ended else t(lang, "smsin.no_pending")
            return t(lang, "smsin.wrong_code", left=result.attempts_left)
        assert isinstance(result, Decided)
        if isinstance(result.result, Accepted):  # the registry answers later; the subject is told then
            return t(lang, "smsin.consent_given_pending", number=result.result.app.number)
        if result.provided is not None:
            given = result.provided
            register = get_service(given.service).register
            return t(lang, "smsin.consent_provided", when=format_short(given.at), name=given.requester_name,
                     iin=given.requester_iin, register=t(lang, f"sms.register.{register}"))
        key = "smsin.consent_given" if isinstance(result.result, Delivered) else "smsin.consent_declined"
        return t(lang, key, number=result.result.app.number)
