"""Registry information requests: one's own (delivered at once), another person's (the data subject consents
with the code sent to their phone, or in their own chat with the Consent / Decline buttons of the offer).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core import otp as otp_
from bot.core.identity import DirectoryDown, IinRefused
from bot.core.otp import parse_code
from bot.core.registry_info import (
    Accepted,
    Certificate,
    ConsentRequested,
    Delivered,
    NotAllowed,
    NotPending,
    OwnIin,
    Refused,
)
from bot.domain.catalog import REGISTRY_SERVICES
from bot.domain.model import Identity
from bot.gateways import telegram_raw_api as raw_api
from handlers.telegram import keyboards, render, routes, steps
from handlers.telegram.identification import answer_resend, require_identity
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import Then, TypingConsentCode, TypingSubjectIin
from handlers.telegram.turn import Turn


@steps.then
class OwnRequest(Then):
    """One's own registry information, asked before identification."""
    ACTION = "own"
    service: str = ""


@steps.then
class OtherRequest(Then):
    """Another person's registry information, asked before identification."""
    ACTION = "other"
    service: str = ""


@steps.then
class ConsentDecision(Then):
    """The data subject's Consent / Decline on an offer (``offer``: its message), pressed while not verified."""
    ACTION = "consent"
    number: str = ""
    tag: str = ""
    yes: bool = False
    offer: int | None = None


# Own request --------------------------------------------------------------------------------------------

async def own_request(turn: Turn, service: str) -> None:
    if not await require_identity(turn, OwnRequest(service=service)):
        return
    identity = await turn.identity()
    assert identity is not None
    delivered = await turn.services.own_requests.request_own(identity, turn.user_id, service,
                                                             turn.ahead.pop("own", None))
    if isinstance(delivered, Accepted):  # the registry cannot answer now: the result comes to this chat later
        await turn.say("request.accepted_pending", number=delivered.app.number,
                       due=render.when(delivered.app.due_at, turn.lang))
        await show_menu(turn)
        return
    # "Request No. … accepted … Result:" heads the protected result itself: one message, not two.
    turn.note("request.accepted", number=delivered.app.number, due=render.when(delivered.app.due_at, turn.lang))
    await deliver(turn, delivered.certificate)
    await show_menu(turn)


async def deliver(turn: Turn, certificate: Certificate) -> None:
    await turn.send(render.certificate(turn.t, turn.lang, certificate),
                    keyboards.certificate(turn.t, turn.lang, certificate.number), protect=True,
                    certificate=certificate.number)


# Another person's information ---------------------------------------------------------------------------

async def ask_subject_iin(turn: Turn, service: str) -> None:
    if not await require_identity(turn, OtherRequest(service=service)):
        return
    await steps.go(turn, TypingSubjectIin(service=service))
    await turn.say("tp.ask_iin", service=turn.text(f"service.{service}.short"),
                   reply_markup=keyboards.cancel_only(turn.t, turn.lang))


async def on_subject_iin(turn: Turn, text: str, step: TypingSubjectIin) -> None:
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, OtherRequest(service=step.service))
        return
    result = await turn.services.consents.submit_third_party(identity, turn.user_id, step.service, text,
                                                                 turn.lang)
    if isinstance(result, IinRefused):
        await turn.say(f"iin.{result.reason}", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
    elif isinstance(result, DirectoryDown):  # nothing registered; the same IIN may be typed again later
        await turn.say("state.directory_down", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
    elif isinstance(result, OwnIin):
        await turn.say("tp.own_iin")
        await own_request(turn, step.service)
    elif isinstance(result, otp_.TooMany):
        await turn.say("tp.too_many")
        await show_menu(turn)
    elif isinstance(result, Refused):
        await turn.say("tp.no_phone", number=result.app.number, ground=turn.text("refusal.no_consent"))
        await show_menu(turn)
    else:
        assert isinstance(result, ConsentRequested)
        await steps.go(turn, TypingConsentCode(number=result.app.number))
        await turn.say("tp.code_sent", number=result.app.number, phone=result.masked_phone,
                       due=render.when(result.expires_at, turn.lang),
                       reply_markup=keyboards.code_entry(turn.t, turn.lang))


async def on_consent_code(turn: Turn, text: str, step: TypingConsentCode) -> None:
    code = parse_code(text)
    if code is None:
        await turn.say("otp.format", reply_markup=keyboards.code_entry(turn.t, turn.lang))
        return
    identity = await turn.identity()
    if identity is None:
        await turn.say("id.expired")
        await show_menu(turn)
        return
    result = await turn.services.consents.confirm_with_code(identity, turn.user_id, step.number, code)
    await answer_consent_result(turn, result)


async def answer_consent_result(turn: Turn, result: object) -> None:
    if isinstance(result, otp_.WrongCode):
        await turn.say("otp.wrong", left=result.attempts_left, reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(result, otp_.NoValidCode):
        await turn.say("otp.expired", reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(result, Delivered):
        await turn.say("tp.consent_given", number=result.app.number)
        await deliver(turn, result.certificate)
        await show_menu(turn)
    elif isinstance(result, Accepted):
        await turn.say("tp.consent_given_pending", number=result.app.number,
                       due=render.when(result.app.due_at, turn.lang))
        await show_menu(turn)
    elif isinstance(result, Refused):
        await turn.say(f"tp.refused_{result.note}", number=result.app.number, ground=turn.text("refusal.no_consent"))
        await show_menu(turn)
    else:
        assert isinstance(result, NotPending)
        await show_menu(turn, "tp.not_pending")


async def resend_consent_code(turn: Turn, step: TypingConsentCode) -> None:
    identity = await turn.identity()
    if identity is None:
        await turn.say("id.expired")
        await show_menu(turn)
        return
    sent = await turn.services.consents.resend_consent_code(identity, turn.user_id, step.number, turn.lang)
    await answer_resend(turn, sent)


async def cabinet_decision(turn: Turn, arg: str, consents: bool) -> None:
    """The data subject pressed Consent / Decline (``arg`` = "<number>:<tag>") in their own chat.

    Deciding needs a fresh identity. A chat the offer was made to (the tag proves it) that is not verified
    right now is led through identification and then back to the decision. Anyone else — a stale or forged
    button, a chat verified as someone else — gets the stale-button answer, whether the request exists or not."""
    number, _, tag = arg.partition(":")
    identity = await turn.identity()
    if identity is None and turn.services.consents.offered(number, turn.user_id, tag):
        query = turn.update.callback_query
        offer = query.message.message_id if query is not None and query.message is not None else None
        await require_identity(turn, ConsentDecision(number=number, tag=tag, yes=consents, offer=offer),
                               "consent.identify", number=number)
        return
    await decide_as_subject(turn, identity, number, consents, close_offer)


async def decide_as_subject(turn: Turn, identity: Identity | None, number: str, consents: bool,
                            close: Callable[[Turn], None]) -> None:
    result = await turn.services.consents.decide_as_subject(identity, number, consents,
                                                            turn.ahead.pop("consent", None))
    if isinstance(result, NotAllowed):
        await show_menu(turn, "stale.button")
        return
    close(turn)
    if isinstance(result, NotPending):
        await show_menu(turn, "tp.not_pending")
        return
    await turn.say("cabinet.given" if consents else "cabinet.declined", number=number)
    await show_menu(turn)


def close_offer(turn: Turn) -> None:
    """Take the Consent / Decline buttons off the offer once it is decided, so they cannot be pressed again."""
    query = turn.update.callback_query
    if query is not None and query.message is not None:
        bot, chat_id, message_id = turn.context.bot, query.message.chat.id, query.message.message_id
        turn.after_commit(lambda: raw_api.remove_inline_keyboard(bot, chat_id, message_id))


async def consent_after_identity(turn: Turn, then: ConsentDecision) -> None:
    """Back to the decision the offer's button asked for, now that the chat is verified: as the subject it is
    taken; as anyone else, the stale-button answer."""
    number = then.number
    if not turn.services.consents.offered(number, turn.user_id, then.tag):
        await show_menu(turn, "stale.button")
        return
    offer = then.offer

    def close(turn: Turn) -> None:
        if offer is not None:  # the offer is an earlier message of this chat
            bot = turn.context.bot
            turn.after_commit(lambda: raw_api.remove_inline_keyboard(bot, turn.user_id, offer))

    await decide_as_subject(turn, await turn.identity(), number, then.yes, close)


# Where the conversation continues once the person has identified ------------------------------------------

async def own_ahead(turn: Turn, then: OwnRequest, iin: str) -> None:
    if then.service in REGISTRY_SERVICES:
        turn.ahead["own"] = await turn.services.own_requests.ask(iin, then.service)


async def consent_ahead(turn: Turn, then: ConsentDecision, iin: str) -> None:
    if then.yes:
        turn.ahead["consent"] = await turn.services.consents.ask_as_subject(iin, then.number)


async def own_after_identity(turn: Turn, then: OwnRequest) -> None:
    if then.service in REGISTRY_SERVICES:
        await own_request(turn, then.service)
    else:
        await show_menu(turn)


async def other_after_identity(turn: Turn, then: OtherRequest) -> None:
    if then.service in REGISTRY_SERVICES:
        await ask_subject_iin(turn, then.service)
    else:
        await show_menu(turn)


def register() -> None:
    """A request asked before identification goes on after it."""
    routes.ask_ahead(OwnRequest, own_ahead)
    routes.ask_ahead(ConsentDecision, consent_ahead)
    routes.after_identity(OwnRequest, own_after_identity)
    routes.after_identity(OtherRequest, other_after_identity)
    routes.after_identity(ConsentDecision, consent_after_identity)
