"""Where a conversation stands survives a restart and a new version: a state saved by the previous version (the
JSON objects below are what it wrote, key for key) is taken up by this one, and a stored state that no longer
fits any step is the menu — never an error message.

The real PTB Application through the emulator, a real SQLite file (and PostgreSQL under scripts/test.sh)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.phone import mask_phone
from tests.harness import CITIZENS, Chat

AIGERIM = CITIZENS["Айгерім"]


def tx(h: Any, lang: str) -> Any:
    return lambda key, **params: h.services.texts(lang, key, **params)


async def identified(h: Any, user_id: int) -> Chat:
    """Language chosen, verified as Aigerim (through the status list's identity step), back at the menu."""
    t = tx(h, "ru")
    chat = Chat(h, user_id, "ru")
    await chat.start_in("ru")
    await chat.send("/status")
    await chat.press(t("btn.identify"))
    await chat.identify("Айгерім")
    return chat


async def test_a_complaint_draft_saved_by_the_previous_version_is_filed_after_a_restart(h):
    t = tx(h, "ru")
    chat = await identified(h, 6601)
    # The last step of filing, as the previous version kept it: every key it wrote, None values included.
    await h.services.conversation.set_state(6601, "cp_file", {
        "addressee": "provider", "app": None, "provider": "Городская поликлиника № 5",
        "name": AIGERIM["full_name"], "address": AIGERIM["address"], "phone": AIGERIM["phone"],
        "text": "Регистратура не приняла документы, прошу разобраться.", "file_id": "AgACAgIAAxkBAAIB",
        "file_kind": "photo"})
    await h.restart()
    await chat.send("что дальше?")  # text where a photo or Send is expected: asked again, the draft kept
    assert t("cp.file.only_photo") in chat.texts()
    await chat.press(t("cp.btn.send"))
    filed = (await h.services.complaints.repo.for_iin(AIGERIM["iin"]))[0]
    assert (filed.provider_name, filed.app_number, filed.file_kind) == ("Городская поликлиника № 5", None, "photo")
    assert filed.body == "Регистратура не приняла документы, прошу разобраться."
    assert filed.number in chat.texts()


async def test_an_identification_saved_by_the_previous_version_goes_on_to_what_was_asked(h):
    t = tx(h, "ru")
    chat = Chat(h, 6602, "ru")
    await chat.start_in("ru")
    await chat.press(t("btn.status"))
    # "Identify" pressed under the status list, the contact shared: the IIN step as the previous version kept it.
    await h.services.conversation.set_state(6602, "id_iin", {"then": {"action": "status"}, "phone": AIGERIM["phone"]})
    await h.restart()
    await chat.send(AIGERIM["iin"])
    assert t("id.code_sent", phone=mask_phone(AIGERIM["phone"])) in chat.texts()
    stored = await h.services.conversation.state(6602)
    assert stored.state == "id_code"
    assert set(stored.data) == {"then", "phone", "iin", "attempt"}  # the keys the previous version reads
    assert stored.data["then"] == {"action": "status"}
    await chat.send(h.phone.code(AIGERIM["phone"]))
    assert t("id.done") in chat.texts() and t("status.list_title") in chat.texts()


OLD_SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("menu", {}),
    ("lang", {}),
    ("lang", {"resume": None, "state": "cp_lookup", "data": {}}),
    ("id_contact", {"then": {"action": "complaint", "app": "QZ-261124-0000102"}}),
    ("id_iin", {"then": {"action": "consent", "number": "QZ-261124-0000102", "tag": "ab", "yes": True,
                         "offer": 17}, "phone": AIGERIM["phone"]}),
    ("tp_iin", {"service": "dispensary"}),
    ("tp_code", {"number": "QZ-261124-0000102"}),
    ("cp_addressee", {}),
    ("cp_subject", {"addressee": "provider"}),
    ("cp_provider", {"addressee": "quality_authority"}),
    ("cp_details", {"addressee": "provider", "app": "QZ-261124-0000102", "provider": None,
                    "name": AIGERIM["full_name"], "address": AIGERIM["address"], "phone": AIGERIM["phone"]}),
    ("cp_address", {"addressee": "provider", "app": None, "provider": "Емхана", "name": "", "address": "",
                    "phone": None}),
    ("cp_text", {"addressee": "provider", "app": None, "provider": "Емхана", "name": AIGERIM["full_name"],
                 "address": AIGERIM["address"], "phone": AIGERIM["phone"]}),
    ("cp_lookup", {}),
    ("verify_number", {}),
    ("verify_code", {"number": "QZ-261124-0000102"}),
    ("op_find", {}),
    ("op_cp_find", {}),
]


@pytest.mark.parametrize(("state", "data"), OLD_SHAPES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(OLD_SHAPES)])
async def test_every_step_as_the_previous_version_stored_it_is_answered(h, state, data):
    t = tx(h, "ru")
    chat = await identified(h, 6603)
    await h.services.conversation.set_state(6603, state, data)
    await chat.send("Поликлиника на Абая 12")
    assert chat.last and t("error.generic") not in chat.texts()


@pytest.mark.parametrize(("state", "data"), [
    ("id_code", {"phone": AIGERIM["phone"]}),        # keys missing: no attempt, no IIN
    ("tp_code", {"number": ["not", "a", "number"]}),  # a value of another type
    ("a_step_since_removed", {"x": 1}),              # no such step in this version
])
async def test_a_stored_state_that_fits_no_step_is_the_menu(h, state, data):
    t = tx(h, "ru")
    chat = await identified(h, 6604)
    await h.services.conversation.set_state(6604, state, data)
    await chat.send("123456")  # a code's shape: the code steps would use what is missing
    assert t("menu.hint") in chat.texts() and t("error.generic") not in chat.texts()
    assert (await h.services.conversation.state(6604)).state == "menu"
