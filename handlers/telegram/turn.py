"""One update being answered: who, in which language, and how to reply — as one unit of work.

Every Telegram update runs inside an UpdateScope (see ``run_update``): a unit of work (which, as every unit,
begins its transaction only at the update's first write), and a buffer of the replies. Nothing is sent while the
unit is open. When the update's work is done, the replies are written to the Telegram outbox in the same
transaction as everything else the update changed (with the update's handled mark and where the conversation now
stands: one statement on PostgreSQL, store/turn_close.py), the unit commits, and the replies are delivered at
once from that envelope. A crash after the commit leaves the envelope to the outbox worker; a crash or an error
before it leaves nothing half-done. An update that wrote nothing sends its replies directly (there is nothing to
lose); one that only moved the conversation commits that closing write alone.

An update is acted on once: it is marked handled (``telegram_updates``) in its unit; one that comes again (a
restart before getUpdates confirmed it, a webhook retry) is skipped, and one handled meanwhile by another
attempt (another replica) is rolled back when its mark finds the row there. An update posted to the webhook runs
inside an ``Attempt``: if it fails, the webhook answers with an error and Telegram posts it again, so the person
is told of the error only on the last try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.core.outbox import MESSAGES
from bot.domain.model import ChatState, Identity, UserSnapshot
from bot.i18n import Lang, Texts, as_lang
from bot.services import Services, TelegramServices
from handlers.telegram.delivery import Markup, Reply, TelegramDelivery, markup_json
from store.telegram_outbox import Envelope
from store.turn_close import EnvelopeWrite, StateWrite

log = logging.getLogger(__name__)

_UNREAD = object()


class HandledElsewhere(Exception):
    """Another attempt at the same update committed while this one ran: this one is rolled back."""


@dataclass
class Attempt:
    """One try at an update that is posted again if it fails (a webhook request). ``last``: no further try
    will come, so the person is told of an error now; ``failed``: the update's work did not go through."""
    last: bool
    failed: bool = False


_attempt: ContextVar[Attempt | None] = ContextVar("qyzmet_update_attempt", default=None)


@contextmanager
def attempt(last: bool) -> Iterator[Attempt]:
    """Handle the updates of the block as a retried attempt (see Attempt)."""
    current = Attempt(last)
    token = _attempt.set(current)
    try:
        yield current
    finally:
        _attempt.reset(token)


def error_is_told() -> bool:
    """Whether the person hears of a failure now: always, except on an attempt that Telegram will repeat."""
    current = _attempt.get()
    return current is None or current.last


class UpdateScope:
    """The replies and after-commit actions of the update being handled."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.chat_id: int | None = None
        self.replies: list[Reply] = []
        self.after: list[Callable[[], Awaitable[Any]]] = []
        # Writes that only record the update happened (an identity extended), run last, before the close: the
        # outside systems the update asks are asked before its unit begins.
        self.last: list[Callable[[], Awaitable[None]]] = []
        self.envelope: Envelope | None = None
        self.unit: Any = None
        self.errored = False
        self.update_id: int | None = None
        self.known: tuple[int, UserSnapshot] | None = None  # (user id, snapshot) read before the handlers ran
        # Where the conversation stands now, written when the update closes (with its mark and its replies)
        self.state: StateWrite | None = None
        self.closed = False

    def fail(self) -> None:
        """The update's work failed: roll it back and drop what it meant to say (the error handler speaks)."""
        if self.unit is not None:
            self.unit.fail()
        self.errored = True
        self.replies.clear()
        self.after.clear()
        self.state = None

    async def close(self) -> None:
        """The update is marked handled, the conversation's new state is written, and its replies become an
        envelope of the outbox, claimed by this process — together (one statement on PostgreSQL), last, in the
        transaction of everything else the update changed."""
        if self.closed:
            return
        self.closed = True
        envelope = None
        if self.replies and self.chat_id is not None:
            lease_seconds = self.services.settings.telegram_lease_seconds
            until = self.services.clock.now().timestamp() + lease_seconds
            payload = {"messages": [reply.to_json() for reply in self.replies]}
            envelope = EnvelopeWrite(self.chat_id, MESSAGES, payload, until)
        marked, envelope_id = await self.services.conversation.close_turn(self.update_id, self.state, envelope)
        if not marked:
            raise HandledElsewhere(self.update_id)
        if envelope is not None and envelope_id is not None:
            self.envelope = Envelope(envelope_id, envelope.chat_id, envelope.kind, envelope.payload, 0,
                                     envelope.lease_until)


_scope: ContextVar[UpdateScope | None] = ContextVar("qyzmet_update_scope", default=None)


def current_scope() -> UpdateScope | None:
    return _scope.get()


async def run_update(services: Services, application: Application[Any, Any, Any, Any, Any, Any], update: object,
                     coroutine: Coroutine[Any, Any, Any]) -> None:
    """Handle one update as one unit of work, then deliver its replies (see the module docstring)."""
    scope = UpdateScope(services)
    if isinstance(update, Update):
        scope.update_id = update.update_id
        user = update.effective_user
        if user is not None:  # one read: the sender, and whether this update was handled already
            scope.known = (user.id, await services.conversation.snapshot(user.id, update.update_id))
            handled = scope.known[1].update_handled
        else:
            handled = await services.conversation.handled(update.update_id)
        if handled:
            coroutine.close()  # its effects and replies are committed already: act on it once
            log.info("update %s came again; already handled", update.update_id)
            return
    token = _scope.set(scope)
    try:
        async with services.db.unit("turn") as unit:
            scope.unit = unit
            await coroutine
            if unit.failed and not scope.errored:
                # A use case failed and the flow went on: its replies may speak of what was rolled back.
                log.error("an update's unit of work failed; its replies are replaced by the error message")
                scope.fail()
                if scope.chat_id is not None and error_is_told():
                    lang = as_lang(await services.conversation.language(scope.chat_id))
                    scope.replies.append(Reply(escape(services.texts(lang, "error.generic"))))
            elif not unit.failed:
                for write in scope.last:
                    await write()
                if unit.begun or scope.state is not None:
                    # The update wrote something, or moved the conversation: last, in its transaction.
                    await scope.close()
    except HandledElsewhere:
        log.info("update %s was handled meanwhile by another attempt; this one is rolled back", scope.update_id)
        return
    finally:
        _scope.reset(token)
    current = _attempt.get()
    if current is not None and scope.errored:
        current.failed = True
    delivery = TelegramDelivery(services, application.bot)
    if scope.envelope is not None:
        await delivery.deliver_own(scope.envelope, scope.replies)
    elif scope.replies and scope.chat_id is not None:
        try:
            await delivery.send_direct(scope.chat_id, scope.replies)
        except Exception:  # nothing durable is lost: the update changed nothing
            log.warning("replies of an update that changed nothing were not delivered", exc_info=True)
    for action in scope.after:
        try:
            await action()
        except Exception:  # e.g. an old message that can no longer be edited
            log.info("an after-commit action failed", exc_info=True)


@dataclass
class Turn:
    services: TelegramServices
    update: Update
    context: ContextTypes.DEFAULT_TYPE
    user_id: int
    lang: Lang
    # Short notices ("identity confirmed") waiting to lead the turn's next message: one message, not two.
    notes: list[str] = field(default_factory=list)
    # What turn_for read about the sender (one query), so the handlers need not read it again.
    known: UserSnapshot | None = None
    # What outside systems answered ahead of the update's first write, for a use case later in the same update
    # (routes.ask_ahead: identification, then the request it was for), by what was asked.
    ahead: dict[str, Any] = field(default_factory=dict)
    _identity: object = field(default=_UNREAD, repr=False)
    started: float = field(default_factory=time.monotonic)

    async def chosen_lang(self) -> str | None:
        """The language the person chose (None: not chosen yet)."""
        if self.known is None:
            return await self.services.conversation.language(self.user_id)
        return self.known.lang

    async def set_language(self, lang: Lang) -> None:
        self.lang = lang
        await self.services.conversation.set_language(self.user_id, lang)
        if self.known is not None:
            self.known = replace(self.known, lang=lang)

    async def chat_state(self) -> ChatState:
        """Where the conversation stands; kept current by set_state."""
        if self.known is None:
            return await self.services.conversation.state(self.user_id)
        return self.known.state

    async def identity(self) -> Identity | None:
        """The verified identity if it still holds (IdentityService.current), checked once per update."""
        if self._identity is _UNREAD:
            scope = current_scope()
            later = scope.last if scope is not None and not scope.closed else None
            if self.known is not None:
                self._identity = await self.services.identity.check(self.known.identity, later)
            else:
                self._identity = await self.services.identity.current(self.user_id, later)
        return self._identity  # type: ignore[return-value]

    def identity_is(self, identity: Identity | None) -> None:
        """After a confirmation or a logout within this update."""
        self._identity = identity

    @property
    def t(self) -> Texts:
        return self.services.texts

    def text(self, key: str, **params: object) -> str:
        return self.services.texts(self.lang, key, **params)

    async def say(self, key: str, reply_markup: Markup | None = None, protect: bool = False,
                  **params: object) -> None:
        await self.send(escape(self.text(key, **params)), reply_markup, protect)

    async def send(self, html: str, reply_markup: Markup | None = None, protect: bool = False,
                   certificate: str | None = None, qr: str | None = None) -> None:
        """Add a message to the turn's replies (delivered once the turn's unit of work has committed).
        ``certificate`` names the application whose certificate ``html`` is: it is rendered again from the
        registry if the message has to be sent later, and never stored."""
        prefix = "\n\n".join(escape(note) for note in self.notes)
        self.notes.clear()
        if certificate is not None:
            reply = Reply(prefix, markup_json(reply_markup), protect, certificate, self.lang,
                          rendered="\n\n".join(part for part in (prefix, html) if part))
        else:
            reply = Reply("\n\n".join(part for part in (prefix, html) if part), markup_json(reply_markup), protect,
                          qr=qr)
        scope = current_scope()
        if scope is None:  # outside an update (a tool, a test calling a flow directly): send now
            await TelegramDelivery(self.services, self.context.bot).send_direct(self.user_id, [reply])
            return
        scope.chat_id = self.user_id
        scope.replies.append(reply)

    def after_commit(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run a Bot API call that changes nothing a person is owed (edit a keyboard, send a stored file) once
        the turn has committed."""
        scope = current_scope()
        if scope is None:
            raise RuntimeError("after_commit outside an update")
        scope.after.append(action)

    def note(self, key: str, **params: object) -> None:
        """Put a localized notice at the top of the next message this turn sends (see flush_notes)."""
        self.notes.append(self.text(key, **params))

    async def flush_notes(self) -> None:
        """Send notices no message has carried yet, so that none is ever lost."""
        if self.notes:
            await self.send("")

    async def set_state(self, state: str, data: dict[str, Any] | None = None) -> None:
        new = ChatState(state, data or {})
        if self.known is not None and self.known.state == new:
            return  # already there: an update that only shows a menu writes nothing
        scope = current_scope()
        if scope is not None and not scope.closed:
            scope.state = StateWrite(self.user_id, state, data or {})  # written when the update closes
        else:
            await self.services.conversation.set_state(self.user_id, state, data)
        if self.known is not None:
            self.known = replace(self.known, state=new)


async def turn_for(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Turn:
    services: TelegramServices = context.application.bot_data["services"]
    user = update.effective_user
    assert user is not None
    scope = current_scope()
    if scope is not None and scope.known is not None and scope.known[0] == user.id:
        known = scope.known[1]
        scope.known = None  # a second turn of the same update (the error handler) reads afresh
    else:
        known = await services.conversation.snapshot(user.id)
    return Turn(services, update, context, user.id, as_lang(known.lang or user.language_code), known=known)
