"""A citizen asks for their own registry information, end to end, in both languages."""

from __future__ import annotations

import pytest

from tests.harness import Chat

# The registry flow against the seeded tables and against the state systems' HTTP contract (reference server).
pytestmark = pytest.mark.parametrize("state_backend", ["embedded", "http"], indirect=True)


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_own_request_observed_and_not(h, lang, state_backend):
    chat = Chat(h, 1001, lang)
    await chat.start_in(lang)
    assert chat.buttons(), chat.texts()
    # The language confirmation and the welcome menu arrive as one message.
    assert len(chat.last) == 1, chat.texts()
    assert chat.texts().startswith(h.services.texts(lang, "lang.set")), chat.texts()
    assert h.services.texts(lang, "menu.welcome") in chat.texts()
    await chat.press("Сведения о себе" if lang == "ru" else "Өзім туралы")
    await chat.press("фтизиатрия")  # the same word in both languages
    assert any(b["request_contact"] for m in chat.last for b in h.emu.reply_buttons(m)), chat.texts()
    await chat.identify("Сергей")
    text = chat.texts()
    assert "QZ-" in text
    certificate = next(m for m in chat.last if m.protect_content)
    if lang == "ru":
        assert "На динамическом наблюдении: состоит" in certificate.plain_text
        assert "Иванов Сергей Петрович" in certificate.plain_text
        assert "Данные предоставлены информационной системой «Фтизиатрия»" in certificate.plain_text
    else:
        assert "тұрады" in certificate.plain_text and "тұрмайды" not in certificate.plain_text
        assert "Деректер «Фтизиатрия» ақпараттық жүйесімен берілген" in certificate.plain_text
    assert "Сведения/Мәлімет" in certificate.plain_text
    # One protected message: "identity confirmed", "request No. … accepted … Result:" and the result itself;
    # the menu follows it (unprotected), and nothing else is sent.
    assert [m.protect_content for m in chat.last] == [True, False], chat.texts()
    assert certificate.plain_text.startswith(h.services.texts(lang, "id.done")), certificate.plain_text
    number = next(w for w in certificate.plain_text.split() if w.startswith("QZ-"))
    accepted = h.services.texts(lang, "request.accepted", number=number, due="@").split("@")[0]
    assert accepted in certificate.plain_text
    assert certificate.plain_text.index(accepted) < certificate.plain_text.index("Сведения/Мәлімет")
    assert h.services.texts(lang, "menu.title") in chat.last[-1].plain_text
    # Under the certificate: the same as a signed PDF, and a share link; then the menu.
    assert chat.buttons()[:2] == [h.services.texts(lang, "btn.pdf"), h.services.texts(lang, "btn.share")]
    assert ("Сведения о себе" if lang == "ru" else "Өзім туралы") in chat.buttons()[2]

    # Identified now: narcology without asking again, and "not observed".
    await chat.press("Сведения о себе" if lang == "ru" else "Өзім туралы")
    await chat.press("ркология")
    certificate = next(m for m in chat.last if m.protect_content)
    assert h.services.texts(lang, "id.done") not in certificate.plain_text  # said once, not again
    assert ("не состоит" if lang == "ru" else "тұрмайды") in certificate.plain_text
    if state_backend == "http":  # the answers came from the state systems over HTTP, not from the seeded tables
        assert h.state_server.requests["registries"] == 2 and h.state_server.requests["directory"] >= 3


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_service_guide_for_every_service(h, lang):
    from bot.domain.catalog import SERVICES
    chat = Chat(h, 1101, lang)
    await chat.start_in(lang)
    await chat.press("Справочник" if lang == "ru" else "анықтамалық")
    assert len(chat.buttons()) == len(SERVICES) + 1
    for code in SERVICES:
        menu = chat.last[-1]
        await chat.press_data(menu.message_id, f"guide:{code}")
        text = chat.texts()
        assert h.services.texts(lang, f"service.{code}.fee") in text
        assert h.services.texts(lang, f"service.{code}.deadline") in text
