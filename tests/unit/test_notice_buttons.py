"""A notice's buttons: the core names what it is about, the channel makes the button; a notice owed before the
core named it so (its payload carrying the button's data) still gets its buttons."""

from __future__ import annotations

from bot.i18n import texts
from handlers.telegram.envelope_render import notice


def _buttons(params: dict) -> list[str]:
    [reply] = notice(texts(), "ru", "Статус изменён", params)
    markup = reply.markup
    return [b["callback_data"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


def test_what_the_core_names_becomes_the_channels_buttons():
    assert _buttons({"_open": {"application": "QZ-261124-0000102"},
                     "_complain": {"application": "QZ-261124-0000102"}}) == [
        "app:QZ-261124-0000102", "cpf:QZ-261124-0000102"]
    assert _buttons({"_open": {"complaint": "CP-261208-2182676"}}) == ["cpv:CP-261208-2182676"]


def test_a_notice_owed_before_keeps_its_buttons_and_an_unknown_subject_gets_none():
    assert _buttons({"_open": "cpv:CP-261208-2182676"}) == ["cpv:CP-261208-2182676"]
    assert _buttons({"_open": {"planet": "x"}}) == []
