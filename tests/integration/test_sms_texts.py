"""SMS texts of the SMS channel: both languages, same placeholders, within their segment budget with
worst-case values; keyword parsing is total (any text a person can type gets an answer, never a traceback)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.domain.names import mask_name
from bot.domain.sms_segments import count_segments
from bot.i18n import LANGS, Texts
from bot.services import Services
from handlers.sms_commands import KEYWORDS, SmsHandler, parse_sms

TEXTS = Texts.load()
STATUSES = ("accepted", "awaiting_consent", "in_progress", "result_ready", "refused")
SMSIN_KEYS = sorted(k for k in TEXTS.keys("ru") if k.startswith("smsin."))


def worst(lang: str) -> dict[str, object]:
    return {
        "number": "Q" * 40,  # providers' numbers may be up to 40 characters (normalize_number)
        "n": 99, "left": 99,
        "status": max([*(TEXTS(lang, f"status.{s}") for s in STATUSES),
                       *(TEXTS(lang, k) for k in TEXTS.keys(lang) if k.startswith("complaint.state."))], key=len),
        "due": "31.12.2026 23:59",
        # The reply to a consenting SMS names the requester (masked) and when the data went.
        "when": "31.12.2026 23:59", "iin": "******1234",
        "name": mask_name("Жұмабаева Нұрсұлтанбекова-Әлихан Серікқызы"),  # the longest a mask can be
        "register": max((TEXTS(lang, f"sms.register.{r}") for r in ("tb", "psychiatry", "narcology")), key=len),
    }


def placeholders(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def test_every_smsin_text_exists_in_both_languages_with_the_same_placeholders():
    assert SMSIN_KEYS and set(SMSIN_KEYS) == {k for k in TEXTS.keys("kk") if k.startswith("smsin.")}
    for key in SMSIN_KEYS:
        kk, ru = TEXTS.raw("kk", key), TEXTS.raw("ru", key)
        assert kk and ru and kk != ru, key
        assert placeholders(kk) == placeholders(ru), key


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", SMSIN_KEYS)
def test_smsin_text_fits_two_segments(lang, key):
    text = TEXTS(lang, key, **worst(lang))
    assert count_segments(text).segments <= 2, (len(text), text)


@pytest.mark.parametrize("lang", LANGS)
def test_texts_name_the_keywords_of_their_own_language(lang):
    words = {w for w, (_, kw_lang) in KEYWORDS.items() if kw_lang == lang}
    for key in ("smsin.help", "smsin.stopped", "smsin.started", "smsin.code_needed", "smsin.not_found"):
        text = TEXTS(lang, key)
        assert any(w in text for w in words), (key, text)
        other = {w for w, (_, kw_lang) in KEYWORDS.items() if kw_lang not in (lang, None) and len(w) > 2}
        assert not any(f" {w} " in f" {text} " or f" {w}." in text for w in other), (key, text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_consent_sms_suggests_a_reply_the_channel_accepts(lang):
    """The consent SMS names the reply that consents (yes word and this code) and the code to withhold."""
    yes = next(w for w, (action, kw_lang) in KEYWORDS.items()
               if action == "yes" and kw_lang == lang and not w.isascii())
    text = TEXTS(lang, "sms.consent_request", name="Сергей И.", iin="******1234", register="фтизиатрия",
                 code="482913")
    assert f"{yes} 482913" in text, text
    command = parse_sms(f"{yes} 482913")
    assert (command.action, command.lang, command.code) == ("yes", lang, "482913")
    assert ("кодты" if lang == "kk" else "код") in text.split("482913", 1)[1], text


@given(st.text(max_size=600))
@settings(max_examples=300, deadline=None)
def test_any_text_parses(text):
    command = parse_sms(text)
    assert command.action in ("yes", "no", "status", "stop", "start", "help", "unknown")
    assert command.lang in ("kk", "ru", None)
    assert command.code is None or (len(command.code) == 6 and command.code.isascii() and command.code.isdigit())


@pytest.mark.parametrize(("text", "action", "lang", "code"), [
    ("482913", "yes", None, "482913"), ("ИӘ 482913", "yes", "kk", "482913"), ("иә 482 913", "yes", "kk", "482913"),
    ("ДА 482913", "yes", "ru", "482913"), ("Да, 482-913", "yes", "ru", "482913"), ("IA 482913", "yes", "kk", "482913"),
    ("DA 482913", "yes", "ru", "482913"), ("жоқ", "no", "kk", None), ("Нет 482913", "no", "ru", "482913"),
    ("NO", "no", None, None), ("СТОП", "stop", "ru", None), ("тоқта", "stop", "kk", None), ("Stop", "stop", None, None),
    ("СТАРТ", "start", "ru", None), ("баста", "start", "kk", None), ("КӨМЕК", "help", "kk", None),
    ("помощь", "help", "ru", None), ("МӘРТЕБЕ QZ-261125-0482913", "status", "kk", None),
    ("статус qz-261125-0482913", "status", "ru", None), ("١٢٣٤٥٦", "unknown", None, None),
    ("ДА 12345", "unknown", "ru", None), ("４８２９１３", "unknown", None, None),
])
def test_keywords(text, action, lang, code):
    command = parse_sms(text)
    assert (command.action, command.lang, command.code) == (action, lang, code)


async def test_any_text_gets_a_short_localized_reply(database):
    """Straight through the handler and the core on a real database (no HTTP): odd inputs, one reply each."""
    services = await Services.open(Settings(database=database, secret_key="k", _env_file=None))
    sent: list[str] = []
    services.sms_gateway.listeners.append(lambda to, text: sent.append(text))  # type: ignore[attr-defined]
    handler = SmsHandler(services.sms_inbound, services.sms, services.texts)
    try:
        odd = ["", " ", "?", "😀" * 50, "x" * 5000, "ДА" * 300, "СТАТУС", "СТАТУС 🙂", "status ' OR 1=1 --",
               "\u202eСТОП", "0" * 6, "ИӘ ИӘ 123456", "NO NO", "МӘРТЕБЕ QZ-999999-9999999", "\x00\x01"]
        for i, text in enumerate(odd):
            await handler.handle("+77011234567", text)
            assert len(sent) == i + 1, text
            assert count_segments(sent[-1]).segments <= 2
    finally:
        await services.close()
