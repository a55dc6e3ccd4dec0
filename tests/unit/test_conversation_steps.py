"""The conversation's steps as they are stored: each step's JSON is what the previous version wrote and read (the
core reads one of them too), and every step loads back as it was saved."""

from __future__ import annotations

from bot.domain.model import ChatState
from handlers.telegram import app, steps
from handlers.telegram.citizen_complaints import CpAddressee, CpFile, FileComplaint
from handlers.telegram.registry_requests import ConsentDecision, OwnRequest
from handlers.telegram.steps import (
    ChoosingLanguage,
    Menu,
    SharingContact,
    TypingConsentCode,
    TypingIdentityCode,
    load,
)


def test_the_stored_json_is_the_previous_versions():
    assert Menu().to_json() == {}
    # bot/core/conversation.py ends this step itself, reading "number"
    assert TypingConsentCode(number="QZ-261124-0000102").to_json() == {"number": "QZ-261124-0000102"}
    assert SharingContact(then=OwnRequest(service="dispensary")).to_json() == {
        "then": {"action": "own", "service": "dispensary"}}
    assert TypingIdentityCode(then=ConsentDecision(number="N", tag="t", yes=True, offer=5), phone="+7", iin="1",
                              attempt="a").to_json() == {
        "then": {"action": "consent", "number": "N", "tag": "t", "yes": True, "offer": 5},
        "phone": "+7", "iin": "1", "attempt": "a"}
    assert CpAddressee(app="QZ-1").to_json() == {"app": "QZ-1"}


def test_every_step_loads_back_as_it_was_saved():
    app.register_routes()  # every feature's steps and actions known, as in the running bot
    saved = [Menu(), ChoosingLanguage(resume={"update_id": 1}, state="cp_text", data={"addressee": "provider"}),
             SharingContact(then=FileComplaint(app="QZ-1")), SharingContact(),
             CpFile(addressee="provider", provider="Емхана", name="", address="Алматы", text="Текст жалобы.",
                    file_id="AgAC", file_kind="photo")]
    saved += [cls.model_construct() for cls in steps.STEPS.values() if not cls.model_fields
              or all(not f.is_required() for f in cls.model_fields.values())]
    for step in saved:
        assert load(ChatState(step.NAME, step.to_json())) == step, step
    interrupted = saved[1]
    assert isinstance(interrupted, ChoosingLanguage)
    assert interrupted.interrupted() == load(ChatState("cp_text", {"addressee": "provider"}))
