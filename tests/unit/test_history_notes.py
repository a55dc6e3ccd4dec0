"""An application's history never shows an internal code: every note the bot writes has a text in both
languages, and an unknown code is left out, while a provider's own words are shown as written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.registry_info import NOTE_DECLINED, NOTE_EXPIRED, NOTE_NO_PHONE, NOTE_WRONG_CODE
from bot.domain.model import Application, Event
from bot.i18n import texts
from handlers.telegram import render

T = texts()
AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
APP = Application("QZ-261125-0000001", "tb_info", "900715300451", "850412400121", 1, "telegram", AT, AT,
                  "refused", "no_consent")
# Every note the bot itself writes (bot/core/registry_info.py).
BOT_NOTES = ["consent:otp", "consent:sms", "consent:cabinet", NOTE_NO_PHONE, NOTE_DECLINED, NOTE_EXPIRED,
             NOTE_WRONG_CODE]


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("note", BOT_NOTES)
def test_every_note_the_bot_writes_reads_as_a_sentence(lang, note):
    card = render.application_card(T, lang, APP, [Event("accepted", AT, note)])
    assert note not in card
    assert T(lang, "history.note." + note.replace(":", "_")) in card


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_an_unknown_code_is_left_out_and_a_providers_words_are_shown(lang):
    card = render.application_card(T, lang, APP, [Event("accepted", AT, "some_new_code"),
                                                 Event("refused", AT, "Неполный пакет документов")])
    assert "some_new_code" not in card
    assert "Неполный пакет документов" in card
