"""Any text a person can type gets a localized answer in every state — never silence, never a traceback."""

from __future__ import annotations

import random

import pytest

from tests.harness import CITIZENS, Chat

ALPHABETS = [
    "0123456789 ", "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz",
    "<>&\"'/\\{}[]%$#@!?*_-+=~`|", "٠١٢٣٤٥٦٧٨٩０１２３４５６７８９", "😀🇰🇿👍🏽\u200d\u200b\u202e\u00a0",
]


def random_texts(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    out = ["{number}", "{0}", "%s", "QZ-", "qz 261125 0000000", "/", " ", "٩" * 12, "ИӘ", "ДА 123456"]
    while len(out) < n:
        size = rnd.choice([1, 6, 12, 40, 300, 4096])
        out.append("".join(rnd.choice(rnd.choice(ALPHABETS)) for _ in range(size)).strip() or "x")
    return out


async def answered(chat: Chat, text: str) -> None:
    await chat.send(text)
    assert chat.last, f"silence after {text[:40]!r}"
    body = chat.texts()
    assert "Traceback" not in body and "Извините, при обработке" not in body and "Кешіріңіз, сұрауыңызды" not in body


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_random_text_in_every_state(h, lang):
    chat = Chat(h, 4001, lang)
    texts = random_texts(11 if lang == "ru" else 12, 14)
    for text in texts:  # before a language is chosen
        await answered(chat, text)
    await chat.start_in(lang)
    for text in texts:  # main menu
        await answered(chat, text)
    await chat.press("Сведения о себе" if lang == "ru" else "Өзім туралы")
    await chat.press("фтизиатрия")
    for text in texts:  # waiting for the contact
        await answered(chat, text)
    await chat.contact(CITIZENS["Сергей"]["phone"])
    for text in texts:  # waiting for the IIN
        await answered(chat, text)
    await chat.send(CITIZENS["Сергей"]["iin"])
    for text in texts[:4]:  # waiting for the code: few, to keep the tries
        await answered(chat, text)
    await chat.send(h.phone.code(CITIZENS["Сергей"]["phone"]))
    assert any(m.protect_content for m in chat.last)
    await chat.press("Сведения о другом" if lang == "ru" else "Басқа адам")
    await chat.press("ркология")
    for text in texts:  # waiting for the other person's IIN
        await answered(chat, text)
