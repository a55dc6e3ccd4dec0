"""Keyboards. Callback data is short and self-describing; every button is checked again when pressed."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from bot.domain.catalog import REGISTRY_SERVICES
from bot.i18n import Lang, Texts


def language() -> InlineKeyboardMarkup:
    # Each language names itself, so this keyboard needs no translation.
    return InlineKeyboardMarkup([[InlineKeyboardButton("Қазақша", callback_data="lang:kk"),
                                  InlineKeyboardButton("Русский", callback_data="lang:ru")]])


def menu(t: Texts, lang: Lang, identified: bool, extra: Sequence[tuple[int, str, str]] = ()) -> InlineKeyboardMarkup:
    """The main menu; ``extra`` = (order, label, callback data) rows of feature modules (see routes.menu_entry)."""
    ordered = [(10, t(lang, "btn.own"), "own"), (20, t(lang, "btn.other"), "other"),
               (30, t(lang, "btn.status"), "status"), (40, t(lang, "btn.guide"), "guide"), *extra]
    ordered.sort(key=lambda row: row[0])
    rows = [[InlineKeyboardButton(label, callback_data=data)] for _, label, data in ordered]
    rows.append([InlineKeyboardButton(t(lang, "btn.help"), callback_data="help"),
                 InlineKeyboardButton(t(lang, "btn.language"), callback_data="language")])
    if identified:
        rows.append([InlineKeyboardButton(t(lang, "btn.logout"), callback_data="logout")])
    return InlineKeyboardMarkup(rows)


def services(t: Texts, lang: Lang, whose: str) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(t(lang, f"service.{code}.short"), callback_data=f"{whose}:{code}")]
            for code in REGISTRY_SERVICES]
    rows.append([InlineKeyboardButton(t(lang, "btn.back"), callback_data="menu")])
    return InlineKeyboardMarkup(rows)


def share_contact(t: Texts, lang: Lang) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(t(lang, "btn.share_contact"), request_contact=True)], [KeyboardButton(t(lang, "btn.cancel"))]],
        resize_keyboard=True, one_time_keyboard=True,
    )


def code_entry(t: Texts, lang: Lang) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "btn.resend"), callback_data="resend"),
                                  InlineKeyboardButton(t(lang, "btn.cancel"), callback_data="cancel")]])


def cancel_only(t: Texts, lang: Lang) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "btn.cancel"), callback_data="cancel")]])


def back_to_menu(t: Texts, lang: Lang) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "btn.menu"), callback_data="menu")]])


def applications(t: Texts, lang: Lang, numbers: list[str]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(number, callback_data=f"app:{number}")] for number in numbers[:10]]
    rows.append([InlineKeyboardButton(t(lang, "btn.menu"), callback_data="menu")])
    return InlineKeyboardMarkup(rows)


def consent_decision(t: Texts, lang: Lang, number: str, tag: str) -> InlineKeyboardMarkup:
    """The offer's Consent / Decline; ``tag`` proves the offer was made to this chat (ConsentService)."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(t(lang, "btn.consent_yes"), callback_data=f"cy:{number}:{tag}"),
        InlineKeyboardButton(t(lang, "btn.consent_no"), callback_data=f"cn:{number}:{tag}")]])


def guide(t: Texts, lang: Lang, labels: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(label, callback_data=f"guide:{code}")] for code, label in labels]
    rows.append([InlineKeyboardButton(t(lang, "btn.menu"), callback_data="menu")])
    return InlineKeyboardMarkup(rows)


def certificate(t: Texts, lang: Lang, number: str) -> InlineKeyboardMarkup:
    """Under a certificate: the same certificate as a signed PDF to keep and hand over, and a share link for one
    checker (handlers/telegram/certificates.py)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "btn.pdf"), callback_data=f"pdf:{number}"),
                                  InlineKeyboardButton(t(lang, "btn.share"), callback_data=f"shr:{number}")]])
