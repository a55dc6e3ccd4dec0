"""Requests about me: the data subject's list of the requests other people made for their information, with a
Decline button for the ones still waiting for consent; and the person's certificates as others saw them — their
share links (revocable here) and every check and opening (menu row and /about_me; identity required)."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.certificate_shares import MyCertificates
from bot.core.registry_info import NotAllowed, NotPending
from bot.core.subject_requests import RequestAboutMe
from handlers.telegram import render, routes, steps
from handlers.telegram.certificates import SHARE, SHARE_REVOKE
from handlers.telegram.identification import require_identity
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import Menu, Step, Then
from handlers.telegram.turn import Turn

BUTTON = "abm"  # "abm" shows the list, "abm:no:<number>" declines one request


@steps.then
class AboutMe(Then):
    ACTION = "about_me"


async def show(turn: Turn) -> None:
    """The list, once the person is verified (otherwise the identity step first, then the list)."""
    if not await require_identity(turn, AboutMe(), "about.identify"):
        return
    identity = await turn.identity()
    assert identity is not None
    requests = await turn.services.subject_requests.about_me(identity)
    mine = await turn.services.shares.mine(identity)
    await steps.go(turn, Menu())
    menu_row = [InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")]
    if not requests and not mine.in_force and not mine.shares and not mine.openings:
        await turn.say("about.none", reply_markup=InlineKeyboardMarkup([menu_row]))
        return
    blocks = []
    if requests:
        blocks += [escape(turn.text("about.title"))] + [escape(describe(turn, r)) for r in requests]
    blocks += certificate_blocks(turn, mine)
    rows = [[InlineKeyboardButton(turn.text("about.btn.decline", number=r.number),
                                  callback_data=f"{BUTTON}:no:{r.number}")] for r in requests if r.can_decline]
    now = turn.services.clock.now()
    rows += [[InlineKeyboardButton(turn.text("about.btn.share", number=c.number),
                                   callback_data=f"{SHARE}:{c.number}")] for c in mine.in_force]
    rows += [[InlineKeyboardButton(turn.text("share.btn.revoke_one", number=v.share.number,
                                             until=render.when(v.share.expires_at, turn.lang)),
                                   callback_data=f"{SHARE_REVOKE}:{v.share.id}")]
             for v in mine.shares if v.state(now) == "active"]
    await turn.send("\n\n".join(blocks), InlineKeyboardMarkup([*rows, menu_row]))


def certificate_blocks(turn: Turn, mine: MyCertificates) -> list[str]:
    """The person's certificates in force (each with a Share button), their share links (with how often each was
    opened) and the latest checks and openings of their certificates: when, and how — by number and code, by the
    QR code, or by a link."""
    lang, now = turn.lang, turn.services.clock.now()
    blocks = []
    if mine.in_force:
        lines = [turn.text("about.in_force.title")]
        lines += [turn.text("about.in_force.item", number=c.number, service=turn.text(f"service.{c.service}.short"),
                            until=render.when(c.valid_until, lang)) for c in mine.in_force]
        blocks.append(escape("\n".join(lines)))
    if mine.shares:
        lines = [turn.text("about.shares.title")]
        lines += [turn.text(f"about.share.{v.state(now)}", number=v.share.number,
                            until=render.when(v.share.expires_at, lang), count=v.openings) for v in mine.shares]
        blocks.append(escape("\n".join(lines)))
    if mine.openings:
        lines = [turn.text("about.openings.title")]
        lines += [turn.text("about.opening", when=render.when(o.at, lang), number=o.number,
                            via=turn.text(f"about.via.{o.via}")) for o in mine.openings]
        blocks.append(escape("\n".join(lines)))
    return blocks


def describe(turn: Turn, r: RequestAboutMe) -> str:
    """One request: when, who asked, which register, what was decided (and when), when the result was given."""
    lang = turn.lang
    decided = render.when(r.decided_at, lang) if r.decided_at else ""
    if r.decision == "pending" and r.waits_until is not None:
        decision = turn.text("about.decision.pending", until=render.when(r.waits_until, lang))
    elif decided:
        decision = turn.text("about.decided_at", decision=turn.text(f"about.decision.{r.decision}"), when=decided)
    else:
        decision = turn.text(f"about.decision.{r.decision}")
    lines = [
        turn.text("about.item.head", number=r.number, when=render.when(r.asked_at, lang)),
        turn.text("about.item.requester", name=r.requester_name, iin=r.requester_iin),
        turn.text("about.item.register", service=turn.text(f"service.{r.service}.short")),
        turn.text("about.item.decision", decision=decision),
    ]
    if r.delivered_at is not None:
        lines.append(turn.text("about.item.delivered", when=render.when(r.delivered_at, lang)))
    return "\n".join(lines)


async def on_button(turn: Turn, arg: str, step: Step) -> None:
    what, _, number = arg.partition(":")
    if not what:
        await show(turn)
        return
    identity = await turn.identity()
    if what != "no" or not number:
        await show_menu(turn, "stale.button")
        return
    if identity is None:  # the identity lapsed since the list was shown: verify, then see the list again
        await require_identity(turn, AboutMe(), "about.identify")
        return
    result = await turn.services.subject_requests.decline(identity, number)
    if isinstance(result, NotAllowed):
        await show_menu(turn, "stale.button")
        return
    if isinstance(result, NotPending):
        await turn.say("tp.not_pending")
    else:
        await turn.say("cabinet.declined", number=number)
    await show(turn)


async def after_identity(turn: Turn, then: AboutMe) -> None:
    await show(turn)


def register() -> None:
    """The "Requests about me" row of the main menu, its buttons, and the list after identification."""
    routes.menu_entry("about.btn.menu", BUTTON, order=35)
    routes.button(BUTTON, on_button)
    routes.after_identity(AboutMe, after_identity)
