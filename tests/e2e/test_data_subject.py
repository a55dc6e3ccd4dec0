"""The data subject: the consent offer in every chat linked to their IIN (deciding asks for a fresh identity),
one SMS after consenting by SMS, and "Requests about me" — in both languages."""

from __future__ import annotations

import pytest

from tests.e2e.test_e2e_third_party import ask_about
from tests.harness import CITIZENS, Chat
from tests.repos import repos
from tests.sms_harness import SmsHarness

OWN = {"ru": "Сведения о себе", "kk": "Өзім туралы"}
AIGERIM, SERGEI = CITIZENS["Айгерім"], CITIZENS["Сергей"]


async def linked_subject(h, user_id: int, lang: str, lapse: str) -> Chat:
    """Айгерім verified once in this chat (an own request), then her identity ended: by /logout or idle time."""
    subject = Chat(h, user_id, lang)
    await subject.start_in(lang)
    await subject.press(OWN[lang])
    await subject.press("ркология")
    await subject.identify("Айгерім")
    if lapse == "logout":
        await subject.send("/logout")
    else:
        h.clock.advance(minutes=31)
    h.drain(subject.user_id)
    return subject


async def ask_again(chat: Chat, subject: str, service_label: str) -> str:
    """The requester, still verified, asks about ``subject`` once more; returns the application number."""
    await chat.send("/start")
    await chat.press("Сведения о другом")
    await chat.press(service_label)
    await chat.send(CITIZENS[subject]["iin"])
    return next(w for w in chat.texts().replace("(", " ").split() if w.startswith("QZ-"))


def offer_buttons(h, message) -> dict[str, str]:
    return {data[:2]: data for _, data in h.emu.inline_buttons(message)}


@pytest.mark.parametrize(("lang", "lapse"), [("ru", "logout"), ("kk", "idle")])
async def test_the_offer_reaches_a_linked_chat_and_consent_goes_through_identification(h, lang, lapse):
    subject = await linked_subject(h, 2400, lang, lapse)
    requester = Chat(h, 2401, "ru")
    number = await ask_about(requester, "ru", "Айгерім")
    offers = h.drain(subject.user_id)
    assert offers and number in offers[-1].plain_text, "the linked chat was offered the request"
    offer = offers[-1]
    t = h.services.texts
    assert [text for text, _ in h.emu.inline_buttons(offer)] == [t(lang, "btn.consent_yes"), t(lang, "btn.consent_no")]
    # Not verified right now: the Consent button leads through identification, then back to the decision.
    await subject.press_data(offer.message_id, offer_buttons(h, offer)["cy"])
    assert t(lang, "consent.identify", number=number) in subject.texts()
    assert (await repos(h.services).apps.consent(number)).status == "pending"
    await subject.identify("Айгерім")
    assert t(lang, "id.done") in subject.texts() and t(lang, "cabinet.given", number=number) in subject.texts()
    consent = await repos(h.services).apps.consent(number)
    assert consent.status == "given"
    assert await h.services.db.fetchval("SELECT method FROM consents WHERE number = ?", (number,)) == "cabinet"
    pushed = h.drain(requester.user_id)
    assert any(m.protect_content and "Сейтқали Айгерім" in m.plain_text for m in pushed)
    decided = next(m for m in h.emu.messages(subject.user_id) if m.message_id == offer.message_id)
    assert not h.emu.inline_buttons(decided)  # the offer cannot be pressed again


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_decline_from_a_linked_chat_after_identification_tells_the_requester(h, lang):
    subject = await linked_subject(h, 2410, lang, "idle")
    requester = Chat(h, 2411, lang)
    number = await ask_about(requester, lang, "Айгерім")
    offer = h.drain(subject.user_id)[-1]
    await subject.press_data(offer.message_id, offer_buttons(h, offer)["cn"])
    await subject.identify("Айгерім")
    assert h.services.texts(lang, "cabinet.declined", number=number) in subject.texts()
    assert (await repos(h.services).apps.get(number)).status == "refused"
    pushed = "\n".join(m.plain_text or "" for m in h.drain(requester.user_id))
    assert h.services.texts(lang, "tp.refused_declined", number=number,
                            ground=h.services.texts(lang, "refusal.no_consent")) in pushed


async def test_identified_as_someone_else_the_offer_answers_like_a_stale_button(h):
    subject = await linked_subject(h, 2420, "ru", "logout")
    requester = Chat(h, 2421, "ru")
    number = await ask_about(requester, "ru", "Айгерім")
    offer = h.drain(subject.user_id)[-1]
    await subject.press_data(offer.message_id, offer_buttons(h, offer)["cy"])
    await subject.identify("Дана")  # the chat's owner today is not the subject
    assert h.services.texts("ru", "stale.button") in subject.texts()
    assert (await repos(h.services).apps.consent(number)).status == "pending"
    assert not [m for m in h.drain(requester.user_id) if m.protect_content]


async def test_an_offers_button_copied_to_another_chat_is_a_stale_button(h):
    """The offer's tag is bound to the chat it was shown in: the same data pressed in a chat that was never
    offered the request reads exactly like a made-up button, and leads to no identification."""
    subject = await linked_subject(h, 2430, "ru", "logout")
    requester = Chat(h, 2431, "ru")
    number = await ask_about(requester, "ru", "Айгерім")
    offer = h.drain(subject.user_id)[-1]
    copied = offer_buttons(h, offer)["cy"]
    stranger = Chat(h, 2432, "ru")
    await stranger.start_in("ru")
    answers = []
    for data in (copied, f"cy:QZ-261201-0000000:{copied.rsplit(':', 1)[1]}", f"cy:{number}"):
        await stranger.press_data(stranger.last[-1].message_id, data)
        answers.append(stranger.texts())
    assert answers[0] == answers[1] == answers[2] and h.services.texts("ru", "stale.button") in answers[0]
    assert (await repos(h.services).apps.consent(number)).status == "pending"


# One SMS after consenting by SMS -------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_bare_code_by_sms_gets_one_reply_in_the_subjects_language_naming_the_requester(sh, lang):
    """The subject uses the bot in ``lang`` and replies with the bare code: one SMS comes back, in that
    language, saying to whom (masked) and when the data was given — not a reply and a notice."""
    await linked_subject(sh, 2440, lang, "logout")
    requester = Chat(sh, 2441, "ru" if lang == "kk" else "kk")  # the requester's language plays no part
    number = await ask_about(requester, requester.lang, "Айгерім")
    phone = AIGERIM["phone"]
    before = len(sh.inbox(phone))
    assert (await sh.sms_in(phone, sh.phone.code(phone))).status_code == 200
    assert (await repos(sh.services).apps.consent(number)).status == "given"
    replies = sh.inbox(phone)[before:]
    assert len(replies) == 1, replies
    t = sh.services.texts
    expected_start = t(lang, "smsin.consent_provided", when="", name="", iin="", register="").split(".")[0]
    assert replies[0].startswith(expected_start), replies
    assert "Сергей И." in replies[0] and "******" + SERGEI["iin"][-4:] in replies[0]
    assert t(lang, "sms.register.tb") in replies[0] and SERGEI["iin"] not in replies[0]
    rows = await repos(sh.services).outbox.to_phone(phone)
    assert not [r for r in rows if r.kind == "notice"]  # no second, overlapping SMS


async def test_when_the_reply_is_capped_the_subject_still_learns_to_whom_by_the_notice(emu, database):
    """Past the hourly cap of replies to one phone the consenting SMS is acted on but not answered: then the
    "your data was provided" notice goes as before, so the subject is told all the same."""
    sh = SmsHarness(emu, database, sms_replies_per_phone_hour=1)  # the consent code is the one
    await sh.start()
    try:
        requester = Chat(sh, 2442, "ru")
        number = await ask_about(requester, "ru", "Ерлан")
        phone = CITIZENS["Ерлан"]["phone"]
        before = len(sh.inbox(phone))
        await sh.sms_in(phone, f"ДА {sh.phone.code(phone)}")
        assert (await repos(sh.services).apps.consent(number)).status == "given"
        told = sh.inbox(phone)[before:]
        assert len(told) == 1 and "Сергей И." in told[0], told
        assert [r.kind for r in await repos(sh.services).outbox.to_phone(phone)] == ["interactive", "notice"]
    finally:
        await sh.close()


# Requests about me ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_requests_about_me_lists_every_request_and_declines_a_pending_one(h, lang):
    t = h.services.texts
    requester = Chat(h, 2451, "ru")
    expired = await ask_about(requester, "ru", "Айгерім")
    h.clock.advance(minutes=11)
    await h.sweep()
    h.drain(requester.user_id)
    given = await ask_again(requester, "Айгерім", "Психиатрия")
    await requester.send(h.phone.code(AIGERIM["phone"]))
    assert any(m.protect_content for m in requester.last)
    h.clock.advance(seconds=5)
    pending = await ask_again(requester, "Айгерім", "ркология")
    someone_else = await ask_again(requester, "Ерлан", "фтизиатрия")

    subject = Chat(h, 2450, lang)
    await subject.start_in(lang)
    await subject.press(t(lang, "about.btn.menu"))
    assert t(lang, "about.identify") in subject.texts()  # the identity step first, then the list
    await subject.identify("Айгерім")
    listing = subject.texts()
    assert t(lang, "about.title") in listing
    for number in (expired, given, pending):
        assert number in listing
    assert someone_else not in listing  # only requests about the verified person
    assert listing.index(pending) < listing.index(given) < listing.index(expired)  # newest first
    assert t(lang, "about.item.requester", name="Сергей И.", iin="******" + SERGEI["iin"][-4:]) in listing
    assert SERGEI["iin"] not in listing and "Иванов" not in listing
    for decision in ("consented_otp", "expired"):
        assert t(lang, f"about.decision.{decision}") in listing
    assert t(lang, "about.decision.pending", until="").split("(")[0] in listing
    assert t(lang, "about.item.delivered", when="").rstrip() in listing
    assert t(lang, "service.psychiatry_info.short") in listing
    # Only the pending request can be declined, from right here.
    decline = t(lang, "about.btn.decline", number=pending)
    assert [b for b in subject.buttons() if b.startswith(decline.split(":")[0])] == [decline]
    await subject.press(decline)
    assert t(lang, "cabinet.declined", number=pending) in subject.texts()
    assert t(lang, "about.decision.declined") in subject.texts()  # the list again, decided
    consent = await repos(h.services).apps.consent(pending)
    assert consent.status == "declined"
    assert await h.services.db.fetchval("SELECT method FROM consents WHERE number = ?", (pending,)) == "cabinet"
    pushed = "\n".join(m.plain_text or "" for m in h.drain(requester.user_id))
    assert pending in pushed and t("ru", "refusal.no_consent") in pushed  # the requester is told
    # The command opens the same list.
    await subject.send("/about_me")
    assert t(lang, "about.title") in subject.texts() and pending in subject.texts()


async def test_requests_about_me_of_a_person_nobody_asked_about(h):
    chat = Chat(h, 2460, "kk")
    await chat.start_in("kk")
    await chat.send("/about_me")
    await chat.identify("Дана")
    assert h.services.texts("kk", "about.none") in chat.texts()


async def test_a_decline_button_for_someone_elses_request_is_a_stale_button(h):
    requester = Chat(h, 2470, "ru")
    number = await ask_about(requester, "ru", "Ерлан")
    other = Chat(h, 2471, "ru")
    await other.start_in("ru")
    await other.send("/about_me")
    await other.identify("Айгерім")
    answers = []
    for data in (f"abm:no:{number}", "abm:no:QZ-261201-0000000"):
        await other.press_data(other.last[-1].message_id, data)
        answers.append(other.texts())
    assert answers[0] == answers[1] and h.services.texts("ru", "stale.button") in answers[0]
    assert (await repos(h.services).apps.consent(number)).status == "pending"
