"""Every text a person sees exists in kk and ru, with the same placeholders, and SMS texts fit their budget."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot.domain.iin import parse_iin
from bot.domain.names import mask_name
from bot.domain.sms_segments import count_segments
from bot.i18n import LANGS, Texts

ROOT = Path(__file__).resolve().parents[2]
TEXTS = Texts.load()


def placeholders(template: str | tuple[str, ...]) -> set[str]:
    items = template if isinstance(template, tuple) else (template,)
    return {name for t in items for _, name, _, _ in string.Formatter().parse(t) if name}


def test_both_languages_have_the_same_keys():
    assert TEXTS.keys("kk") == TEXTS.keys("ru")


@pytest.mark.parametrize("key", sorted(TEXTS.keys("kk")))
def test_translated_with_identical_placeholders(key):
    kk, ru = TEXTS.raw("kk", key), TEXTS.raw("ru", key)
    assert kk and ru, key
    assert placeholders(kk) == placeholders(ru), key


def used_keys() -> set[str]:
    """Literal keys the code asks for (t(lang, "x.y"), say("x.y"), …)."""
    found = set()
    for path in list((ROOT / "handlers").rglob("*.py")) + list((ROOT / "bot").rglob("*.py")):
        for match in re.finditer(r"""["']((?:[a-z_]+)\.[a-z_.]+)["']""", path.read_text(encoding="utf-8")):
            found.add(match.group(1))
    return found


def test_every_key_the_code_uses_exists():
    known = TEXTS.keys("kk")
    prefixes = {k.split(".")[0] for k in known}
    missing = {k for k in used_keys() if k.split(".")[0] in prefixes and k not in known
               and not k.endswith(".") and not k.endswith(".py") and not k.endswith(".json")}
    assert not missing, sorted(missing)


def test_dynamic_keys_exist():
    for lang in LANGS:
        for reason in ("not_own", "not_kz_mobile"):
            assert TEXTS.has(lang, f"id.contact_{reason}")
        for reason in ("format", "non_ascii", "checksum", "no_match"):
            assert TEXTS.has(lang, f"iin.{reason}")
        for note in ("declined", "expired", "wrong_code"):
            assert TEXTS.has(lang, f"tp.refused_{note}")
        for register in ("tb", "psychiatry", "narcology"):
            assert TEXTS.has(lang, f"sms.register.{register}")


WORST = {
    "code": "999999",
    "name": mask_name("Жұмабаева Нұрсұлтанбекова-Әлихан Серікқызы"),  # the longest a mask can be
    "iin": "******1234",
    "register": "наркология",
    "when": "31.12.2026 23:59",
}
BUDGET = {"sms.otp": 1, "sms.consent_request": 2}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", sorted(k for k in TEXTS.keys("kk")
                                       if k.startswith("sms.") and not k.startswith("sms.register")))
def test_sms_fits_its_segment_budget(lang, key):
    register = max((TEXTS(lang, f"sms.register.{r}") for r in ("tb", "psychiatry", "narcology")), key=len)
    text = TEXTS(lang, key, **{**WORST, "register": register})
    assert count_segments(text).segments <= BUDGET.get(key, 2), (len(text), text)


def test_example_iins_in_texts_pass_the_bots_own_check():
    """An example IIN a text shows is one the bot accepts (parse_iin raises on a bad check digit)."""
    examples = []
    for lang in LANGS:
        for key in TEXTS.keys(lang):
            raw = TEXTS.raw(lang, key)
            for text in raw if isinstance(raw, tuple) else (raw,):
                examples += re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text)
    assert examples  # iin.format shows one
    for example in examples:
        parse_iin(example)


# Russian texts write ё, in every file (one spelling for the whole catalog): the е-spellings of words the
# catalog uses must not come back. Whole words, and stems whose every form takes ё.
YO_WORDS = ("ещё", "её", "нём", "чём", "трёх", "путём", "подаётся", "введён", "изменён", "уведомлён", "вперёд",
            "придёт", "произошёл")
YO_STEMS = ("приём", "туберкулёз", "истёк", "учёт", "отчёт")


def test_russian_texts_write_yo():
    for key in TEXTS.keys("ru"):
        raw = TEXTS.raw("ru", key)
        for text in raw if isinstance(raw, tuple) else (raw,):
            low = text.lower()
            for word in YO_WORDS:
                assert not re.search(rf"(?<![а-яё]){word.replace('ё', 'е')}(?![а-яё])", low), (key, word)
            for stem in YO_STEMS:
                assert not re.search(rf"(?<![а-яё]){stem.replace('ё', 'е')}", low), (key, stem)


@pytest.mark.parametrize(("lang", "reply", "pass_on"), [("ru", "ответьте ДА 999999", "передайте код"),
                                                        ("kk", "ИӘ 999999 деп жауап", "кодты беріңіз")])
def test_the_consent_sms_says_both_ways_to_consent(lang, reply, pass_on):
    """The person asked may reply by SMS, or give the code to whoever asks (who types it in the bot)."""
    text = TEXTS(lang, "sms.consent_request", **WORST)
    assert reply in text and pass_on in text
