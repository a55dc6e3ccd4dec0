"""One update being answered: who, in which language, and how to reply."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from html import escape

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.i18n import Lang, Texts, as_lang
from bot.services import Services
from store.users import ChatState, Identity, UserSnapshot

_UNREAD = object()


@dataclass
class Turn:
    services: Services
    update: Update
    context: ContextTypes.DEFAULT_TYPE
    user_id: int
    lang: Lang
    # Short notices ("identity confirmed") waiting to lead the turn's next message: one message, not two.
    notes: list[str] = field(default_factory=list)
    # What turn_for read about the sender (one query), so the handlers need not read it again.
    known: UserSnapshot | None = None
    _identity: object = field(default=_UNREAD, repr=False)

    async def chosen_lang(self) -> str | None:
        """The language the person chose (None: not chosen yet)."""
        if self.known is None:
            return await self.services.users.language(self.user_id)
        return self.known.lang

    async def set_language(self, lang: Lang) -> None:
        self.lang = lang
        await self.services.users.set_language(self.user_id, lang, self.services.clock.now())
        if self.known is not None:
            self.known = replace(self.known, lang=lang)

    async def chat_state(self) -> ChatState:
        """Where the conversation stands; kept current by set_state."""
        if self.known is None:
            return await self.services.users.state(self.user_id)
        return self.known.state

    async def identity(self) -> Identity | None:
        """The verified identity if it still holds (IdentityService.current), checked once per update."""
        if self._identity is _UNREAD:
            if self.known is not None:
                self._identity = await self.services.identity.check(self.known.identity)
            else:
                self._identity = await self.services.identity.current(self.user_id)
        return self._identity  # type: ignore[return-value]

    def identity_is(self, identity: Identity | None) -> None:
        """After a confirmation or a logout within this update."""
        self._identity = identity

    @property
    def t(self) -> Texts:
        return self.services.texts

    def text(self, key: str, **params: object) -> str:
        return self.services.texts(self.lang, key, **params)

    async def say(self, key: str, reply_markup=None, protect: bool = False, **params: object) -> Message:  # noqa: ANN001
        return await self.send(escape(self.text(key, **params)), reply_markup, protect)

    async def send(self, html: str, reply_markup=None, protect: bool = False) -> Message:  # noqa: ANN001
        if self.notes:
            html = "\n\n".join([*(escape(note) for note in self.notes), *([html] if html else [])])
            self.notes.clear()
        return await self.context.bot.send_message(self.user_id, html, parse_mode=ParseMode.HTML,
                                                   reply_markup=reply_markup, protect_content=protect)

    def note(self, key: str, **params: object) -> None:
        """Put a localized notice at the top of the next message this turn sends (see flush_notes)."""
        self.notes.append(self.text(key, **params))

    async def flush_notes(self) -> None:
        """Send notices no message has carried yet, so that none is ever lost."""
        if self.notes:
            await self.send("")

    async def set_state(self, state: str, data: dict | None = None) -> None:
        await self.services.users.set_state(self.user_id, state, data, self.services.clock.now())
        if self.known is not None:
            self.known = replace(self.known, state=ChatState(state, data or {}))


async def turn_for(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Turn:
    services: Services = context.application.bot_data["services"]
    user = update.effective_user
    assert user is not None
    known = await services.users.snapshot(user.id)
    return Turn(services, update, context, user.id, as_lang(known.lang or user.language_code), known=known)
