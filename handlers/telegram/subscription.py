"""Broadcast subscription in Telegram: /unsubscribe and /subscribe, and Telegram's own word on whether the bot
may write to a person (my_chat_member: the person blocked the bot, or came back)."""

from __future__ import annotations

from typing import Any

from telegram import ChatMember, Update
from telegram.ext import Application, ChatMemberHandler, CommandHandler, ContextTypes

from bot.services import TelegramServices
from handlers.telegram.menu import ask_language, show_menu
from handlers.telegram.turn import turn_for


async def _set(update: Update, context: ContextTypes.DEFAULT_TYPE, subscribed: bool) -> None:
    turn = await turn_for(update, context)
    services = turn.services
    if await turn.chosen_lang() is None:
        await ask_language(turn)
        return
    await services.subscriptions.set_news(turn.user_id, subscribed, turn.lang)
    await show_menu(turn, "sub.on" if subscribed else "sub.off")


async def _subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _set(update, context, True)


async def _unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _set(update, context, False)


async def _member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The person blocked the bot (kicked) or unblocked it (member): no broadcasts in between."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    services: TelegramServices = context.application.bot_data["services"]
    status = change.new_chat_member.status
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        await services.subscriptions.mark_blocked(change.chat.id)
    elif status == ChatMember.MEMBER:
        await services.subscriptions.clear_blocked(change.chat.id)


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Before the catch-all unknown-command handler."""
    application.add_handler(CommandHandler("subscribe", _subscribe))
    application.add_handler(CommandHandler("unsubscribe", _unsubscribe))
    application.add_handler(ChatMemberHandler(_member, ChatMemberHandler.MY_CHAT_MEMBER))
