"""The status feed over real HTTP (aiohttp server of the running bot), `qyzmet import`, and what a citizen sees
in Telegram: notices at each stage, the card with its history, due date and lateness, the settings switch."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from bot.app.cli import main as cli_main
from tests.e2e.test_notices import identified
from tests.harness import CITIZENS, Chat
from tests.ophelp import until
from tests.repos import repos
from tests.sms_harness import SmsHarness

TOKEN = "feed-token-1"
PATH = "/api/v1/applications/events"
AIGERIM = CITIZENS["Айгерім"]
SERGEI = CITIZENS["Сергей"]
NUMBER = "QZ-261125-0000501"
S6 = "social_services_docs"


def event(**changes: object) -> dict:
    base = {"number": NUMBER, "iin": AIGERIM["iin"], "service": S6, "status": "accepted",
            "at": "2026-11-25T10:00:00+05:00", "note": None}
    return {**base, **changes}


@pytest.fixture
async def fh(emu, database):
    harness = SmsHarness(emu, database, feed_token=TOKEN)
    await harness.start()
    # A fixed "now" after every event time used below (events from the future are refused).
    set_now(harness, "2026-12-04T09:00:00+05:00")
    yield harness
    await harness.close()


async def feed(fh: SmsHarness, payload: object, token: str | None = TOKEN, raw: bytes | None = None
               ) -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await fh.client.post(fh.base + PATH, content=body, headers=headers)
    await fh.delivered()  # the notices the event owes have gone out: the tables are at rest
    return response


async def snapshot(fh: SmsHarness) -> tuple:
    """Everything a feed event may change."""
    db = fh.services.db
    out = []
    for table in ("applications", "application_events", "status_events", "telegram_outbox", "sms_outbox"):
        out.append([tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY 1")])
    return tuple(out)


def set_now(fh: SmsHarness, moment: str) -> None:
    fh.clock.offset = datetime.fromisoformat(moment) - datetime.now(UTC)


# The HTTP contract ----------------------------------------------------------------------------------------

async def test_feed_is_off_without_a_token(emu, database):
    h = SmsHarness(emu, database)
    await h.start()
    try:
        before = await snapshot(h)
        for token in (None, "", TOKEN):
            assert (await feed(h, event(), token=token)).status_code == 404
        assert await snapshot(h) == before
    finally:
        await h.close()


async def test_wrong_or_missing_token_is_401_and_changes_nothing(fh):
    before = await snapshot(fh)
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        response = await feed(fh, event(), token=token)
        assert response.status_code == 401, token
    response = await fh.client.post(fh.base + PATH, json=event(), headers={"Authorization": TOKEN})  # no "Bearer"
    assert response.status_code == 401
    assert await snapshot(fh) == before


async def test_the_same_event_twice_changes_nothing(fh, caplog):
    caplog.set_level("INFO")
    first = await feed(fh, event())
    assert first.status_code == 200 and first.json() == {"result": "created", "number": NUMBER}
    after_first = await snapshot(fh)
    # The same event, the number typed differently and the time written in UTC: the same identity.
    again = await feed(fh, event(number="qz 261125 0000501", at="2026-11-25T05:00:00Z"))
    assert again.status_code == 200 and again.json() == {"result": "duplicate", "number": NUMBER}
    assert await snapshot(fh) == after_first
    app = await repos(fh.services).apps.get(NUMBER)
    assert (app.status, app.channel, app.iin) == ("accepted", "feed", AIGERIM["iin"])
    assert app.submitted_at == datetime.fromisoformat("2026-11-25T10:00:00+05:00")
    assert app.due_at == datetime.fromisoformat("2026-12-21T18:30:00+05:00")  # 17 working days, 16 Dec off
    assert "******0121" in caplog.text and AIGERIM["iin"] not in caplog.text  # logged, masked


@pytest.mark.parametrize(("payload", "field"), [
    ({**event(), "number": ""}, "number"),
    ({**event(), "number": "№ 12 <script>"}, "number"),
    ({**event(), "iin": "850412400122"}, "iin"),  # checksum
    ({**event(), "iin": 850412400121}, "iin"),
    ({**event(), "service": "haircut"}, "service"),
    ({**event(), "status": "issued"}, "status"),  # final word of other systems, not in the contract
    ({**event(), "status": "awaiting_consent"}, "status"),
    ({**event(), "at": "2026-11-25T10:00:00"}, "at"),  # naive: rejected, not guessed
    ({**event(), "at": "yesterday"}, "at"),
    ({**event(), "at": "2027-01-01T10:00:00+05:00"}, "at"),  # in the future (the test clock is in Nov 2026)
    ({**event(), "note": "x" * 501}, "note"),
    ({**event(), "note": 5}, "note"),
    ({k: v for k, v in event().items() if k != "service"}, "service"),
])
async def test_invalid_fields_are_400_naming_the_field(fh, payload, field):
    before = await snapshot(fh)
    response = await feed(fh, payload)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["error"]
    assert await snapshot(fh) == before


async def test_malformed_bodies_are_400_and_too_big_is_413(fh):
    before = await snapshot(fh)
    for raw in (b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b"{"):
        response = await feed(fh, None, raw=raw)
        assert response.status_code == 400, raw
        assert "error" in response.json()
    assert (await feed(fh, event(note="x" * 40_000))).status_code == 413
    assert await snapshot(fh) == before


async def test_conflicts_are_409_with_the_reason_and_change_nothing(fh):
    assert (await feed(fh, event())).status_code == 200
    assert (await feed(fh, event(status="in_progress", at="2026-11-26T10:00:00+05:00"))).status_code == 200
    before = await snapshot(fh)
    cases = [
        (event(iin=SERGEI["iin"], status="result_ready", at="2026-11-27T10:00:00+05:00"), "IIN"),
        (event(service="drug_provision", status="result_ready", at="2026-11-27T10:00:00+05:00"), "service"),
        (event(status="accepted", at="2026-11-27T10:00:00+05:00"), "in_progress to accepted"),  # back
        (event(status="in_progress", at="2026-11-27T10:00:00+05:00"), "in_progress to in_progress"),
    ]
    for payload, reason in cases:
        response = await feed(fh, payload)
        assert response.status_code == 409, payload
        assert reason in response.json()["error"]
    assert await snapshot(fh) == before
    # Final: nothing moves any more, not even a late stage.
    assert (await feed(fh, event(status="refused", at="2026-11-27T10:00:00+05:00", note="Неполный пакет"))
            ).json()["result"] == "updated"
    final = await snapshot(fh)
    response = await feed(fh, event(status="result_ready", at="2026-11-28T10:00:00+05:00"))
    assert response.status_code == 409 and "final" in response.json()["error"]
    assert await snapshot(fh) == final


async def test_an_older_event_goes_to_history_without_rolling_back(fh):
    assert (await feed(fh, event())).status_code == 200
    assert (await feed(fh, event(status="in_progress", at="2026-11-27T10:00:00+05:00"))).status_code == 200
    response = await feed(fh, event(status="in_progress", at="2026-11-26T09:00:00+05:00", note="late delivery"))
    assert response.json() == {"result": "updated", "number": NUMBER}
    assert (await repos(fh.services).apps.get(NUMBER)).status == "in_progress"
    events = await repos(fh.services).apps.events(NUMBER)
    assert [(e.status, e.note) for e in events] == [("accepted", None), ("in_progress", "late delivery"),
                                                    ("in_progress", None)]
    # Recorded once: a repeat is a duplicate.
    again = await feed(fh, event(status="in_progress", at="2026-11-26T09:00:00+05:00", note="late delivery"))
    assert again.json()["result"] == "duplicate"


async def test_concurrent_deliveries_of_one_event_create_one_application(fh):
    import asyncio
    responses = await asyncio.gather(*(feed(fh, event()) for _ in range(8)))
    results = sorted(r.json()["result"] for r in responses)
    assert results == ["created"] + ["duplicate"] * 7
    assert len(await repos(fh.services).apps.events(NUMBER)) == 1


# The citizen in Telegram ------------------------------------------------------------------------------------

STAGES = [("accepted", "2026-11-25T10:00:00+05:00"), ("in_progress", "2026-11-26T11:00:00+05:00"),
          ("result_ready", "2026-12-03T15:00:00+05:00")]


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_citizen_follows_an_s6_application_with_a_notice_at_each_stage(fh, lang):
    chat = await identified(fh, 6001, lang, "Айгерім")
    t = fh.services.texts
    for status, at in STAGES:
        assert (await feed(fh, event(status=status, at=at))).status_code == 200
        notice = await fh.emu.next_message(6001)
        assert NUMBER in notice.plain_text and t(lang, f"status.{status}") in notice.plain_text
        assert t(lang, "service.social_services_docs.short") in notice.plain_text
    await chat.send(NUMBER)
    card = chat.texts()
    assert t(lang, "status.current", status=t(lang, "status.result_ready")) in card
    if lang == "ru":
        assert "Срок оказания услуги: 21 декабря 2026\u202fг., 18:30" in card
        assert "• 25 ноября 2026\u202fг., 10:00 — принята" in card
        assert "• 26 ноября 2026\u202fг., 11:00 — в работе" in card
        assert "• 3 декабря 2026\u202fг., 15:00 — результат предоставлен" in card
    else:
        assert "2026\u202fж. 21 желтоқсан, 18:30" in card
        assert "• 2026\u202fж. 25 қараша, 10:00" in card and "• 2026\u202fж. 3 желтоқсан, 15:00" in card
    assert t(lang, "app.overdue_today") not in card and "⚠️" not in card
    # The list of applications carries it too.
    await chat.send("/status")
    assert NUMBER in chat.texts()


@pytest.mark.parametrize(("lang", "now", "expected"), [
    ("ru", "2027-01-05T12:00:00+05:00", "просрочено на 9 рабочих дней"),  # 1, 4 Jan and the weekend not counted
    ("ru", "2026-12-23T12:00:00+05:00", "просрочено на 2 рабочих дня"),
    ("ru", "2026-12-22T12:00:00+05:00", "просрочено на 1 рабочий день"),
    ("kk", "2027-01-05T12:00:00+05:00", "9 жұмыс күніне кешікті"),
    ("kk", "2026-12-22T12:00:00+05:00", "1 жұмыс күніне кешікті"),
])
async def test_a_late_open_application_shows_working_days_overdue(emu, database, lang, now, expected):
    # The verified identity must outlive the month the clock jumps (it otherwise expires after a day).
    fh = SmsHarness(emu, database, feed_token=TOKEN, identity_idle_seconds=10**8,
                    identity_max_seconds=10**8)
    await fh.start()
    try:
        await _late(fh, lang, now, expected)
    finally:
        await fh.close()


async def _late(fh: SmsHarness, lang: str, now: str, expected: str) -> None:
    chat = await identified(fh, 6002, lang, "Айгерім")
    assert (await feed(fh, event(status="in_progress"))).status_code == 200
    set_now(fh, "2026-12-21T18:00:00+05:00")  # due 21 Dec 18:30 (16 Dec is a holiday): not late yet
    await chat.send(NUMBER)
    assert "⚠️" not in chat.texts()
    set_now(fh, now)
    await chat.send(NUMBER)
    assert expected in chat.texts()
    # A late application points to the bot's own complaint button; 1414 only informs about the procedure.
    complaint_button = fh.services.texts(lang, "cp.btn.file").split(" ", 1)[1]
    assert f"«{complaint_button}»" in chat.texts()
    # Once final, it is no longer shown as late.
    assert (await feed(fh, event(status="result_ready", at=now))).status_code == 200
    await chat.send(NUMBER)
    assert "⚠️" not in chat.texts()


async def test_without_the_bot_the_notice_goes_by_sms(fh):
    payload = event(iin=SERGEI["iin"], status="accepted")
    assert (await feed(fh, payload)).json()["result"] == "created"
    await until(lambda: _has_sms(fh, SERGEI["phone"], NUMBER), what="status SMS")
    assert (await feed(fh, {**payload, "status": "refused", "at": "2026-11-26T10:00:00+05:00",
                            "note": "Неполный пакет документов"})).status_code == 200
    await until(lambda: _has_sms(fh, SERGEI["phone"], "об отказе", "бас тарту туралы"), what="refusal SMS")
    assert not any("Неполный пакет" in sms for sms in fh.inbox(SERGEI["phone"]))  # the note is not sent by SMS


async def _has_sms(fh: SmsHarness, phone: str, *words: str) -> bool:
    return any(any(word in sms for word in words) for sms in fh.inbox(phone))


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_refusal_notice_carries_the_note_in_telegram(fh, lang):
    await identified(fh, 6003, lang, "Айгерім")
    assert (await feed(fh, event())).status_code == 200
    await fh.emu.next_message(6003)
    assert (await feed(fh, event(status="refused", at="2026-11-26T10:00:00+05:00",
                                 note="Неполный пакет документов"))).status_code == 200
    notice = await fh.emu.next_message(6003)
    assert NUMBER in notice.plain_text and "Неполный пакет документов" in notice.plain_text
    assert fh.services.texts(lang, "notice.app_refused", number=NUMBER, note="Неполный пакет документов",
                             service=fh.services.texts(lang, "service.social_services_docs.short"),
                             due="").split("\n")[0] in notice.plain_text


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_settings_switch_turns_status_notices_off_and_news(fh, lang):
    chat = await identified(fh, 6004, lang, "Айгерім")
    t = fh.services.texts
    await chat.send("/settings")  # also a row of the main menu
    on, off = t(lang, "settings.on"), t(lang, "settings.off")
    assert t(lang, "settings.title", status=on, news=on) in chat.texts()  # both on for a new person
    await chat.press(t(lang, "settings.btn.status_off"))
    assert t(lang, "settings.saved") in chat.texts()
    assert t(lang, "settings.title", status=off, news=on) in chat.texts()
    assert (await repos(fh.services).users.notice_preferences(6004))[1] is False
    sms_before = len(fh.inbox(AIGERIM["phone"]))
    assert (await feed(fh, event())).status_code == 200
    assert await repos(fh.services).telegram.statuses(6004, "notice") == []
    assert len(fh.inbox(AIGERIM["phone"])) == sms_before
    # News: the switch shows and sets the subscription.
    await chat.send("/start")
    await chat.press(t(lang, "btn.settings"))
    await chat.press(t(lang, "settings.btn.news_off"))
    assert t(lang, "settings.title", status=off, news=off) in chat.texts()
    assert await fh.services.subscriptions.subscribed(6004) is False
    # And back on: the next change is notified.
    await chat.press(t(lang, "settings.btn.status_on"))
    assert (await feed(fh, event(status="in_progress", at="2026-11-26T10:00:00+05:00"))).status_code == 200
    notice = await fh.emu.next_message(6004)
    assert t(lang, "status.in_progress") in notice.plain_text


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_someone_elses_application_looks_like_no_application(fh, lang):
    chat = await identified(fh, 6005, lang, "Айгерім")
    assert (await feed(fh, event(iin=SERGEI["iin"]))).status_code == 200
    await chat.send(NUMBER)
    others = [(m.plain_text, m.reply_markup) for m in chat.last]
    await chat.send("QZ-261125-9999999")
    missing = [(m.plain_text, m.reply_markup) for m in chat.last]
    assert others == missing and fh.services.texts(lang, "status.not_found") in chat.texts()


# The operator ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_operator_sets_a_status_audited_and_the_citizen_is_notified(fh, lang):
    citizen = await identified(fh, 6006, lang, "Айгерім")
    assert (await feed(fh, event())).status_code == 200
    await fh.emu.next_message(6006)
    await fh.services.staff.add("test", 7101)
    op = Chat(fh, 7101, lang)
    await op.start_in(lang)
    t = fh.services.texts
    await op.send(f"/find {NUMBER}")
    in_progress = f"→ {t(lang, 'status.in_progress')}"
    assert in_progress in op.buttons() and f"→ {t(lang, 'status.accepted')}" not in op.buttons()
    await op.press(in_progress)
    assert t(lang, "op.setstatus.done", number=NUMBER, status=t(lang, "status.in_progress")) in op.texts()
    notice = await fh.emu.next_message(6006)
    assert t(lang, "status.in_progress") in notice.plain_text
    await op.send(f"/setstatus {NUMBER} refused Нет справки")
    assert t(lang, "op.setstatus.done", number=NUMBER, status=t(lang, "status.refused")) in op.texts()
    assert "Нет справки" in (await fh.emu.next_message(6006)).plain_text
    await op.send(f"/setstatus {NUMBER} result_ready")
    assert t(lang, "op.setstatus.rejected", number=NUMBER, reason=t(lang, "op.setstatus.reason.final")) in op.texts()
    await op.send(f"/setstatus {NUMBER} teleported")
    assert t(lang, "op.setstatus.reason.invalid_status") in op.texts()
    await op.send("/setstatus QZ-261125-9999999 accepted")
    assert t(lang, "op.setstatus.not_found", number="QZ-261125-9999999") in op.texts()
    await op.send("/setstatus")
    assert t(lang, "op.setstatus.usage") in op.texts()
    entries = [e for e in await fh.services.staff._audit.recent() if e.action == "set_status"]
    assert [(e.actor, e.details["result"]) for e in reversed(entries)] == [
        ("7101", "updated"), ("7101", "updated"), ("7101", "rejected"), ("7101", "invalid"), ("7101", "not_found")]
    assert (await repos(fh.services).apps.get(NUMBER)).status == "refused"
    # A citizen cannot use the command.
    await citizen.send(f"/setstatus {NUMBER} accepted")
    assert t(lang, "input.unknown_command") in citizen.texts()


# qyzmet import -----------------------------------------------------------------------------------------------

async def test_import_reads_events_line_by_line(tmp_path, database, monkeypatch, capsys):
    monkeypatch.setenv("QYZMET_DATABASE", database)
    monkeypatch.setenv("QYZMET_SECRET_KEY", "k")
    lines = [
        json.dumps(event()),
        "",
        json.dumps(event()),  # duplicate
        json.dumps(event(status="in_progress", at="2026-11-25T11:00:00+05:00")),
        "{not json",
        json.dumps(event(iin="850412400122", number="QZ-261125-0000502")),
        json.dumps(event(status="accepted", at="2026-11-25T12:00:00+05:00")),  # back: conflict
        "   ",
        json.dumps(event(number="QZ-261125-0000503", iin=SERGEI["iin"], service="drug_provision",
                         at="2026-11-24T19:00:00+05:00")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import asyncio
    code = await asyncio.to_thread(cli_main, ["import", str(path)])
    out = capsys.readouterr()
    assert code == 1
    assert "created: 2, updated: 1, duplicate: 1, rejected: 3" in out.out
    assert "line 5: malformed JSON" in out.err
    assert "line 6: iin:" in out.err and "line 7: conflict" in out.err
    assert SERGEI["iin"] not in out.err + out.out
    from bot.config import Settings
    from bot.services import Services
    services = await Services.open(Settings(_env_file=None, database=str(database), secret_key="k"))
    try:
        app = await repos(services).apps.get(NUMBER)
        assert app.status == "in_progress"
        s5 = await repos(services).apps.get("QZ-261125-0000503")
        # S5 after hours: accepted at 9:00 next working day, due 12:00.
        assert s5.due_at == datetime.fromisoformat("2026-11-25T12:00:00+05:00")
        assert await repos(services).apps.get("QZ-261125-0000502") is None
    finally:
        await services.close()
    # All good lines: exit code 0; the same file again is all duplicates.
    path.write_text(lines[0] + "\n" + lines[3] + "\n", encoding="utf-8")
    assert await asyncio.to_thread(cli_main, ["import", str(path)]) == 0
    assert "created: 0, updated: 0, duplicate: 2, rejected: 0" in capsys.readouterr().out
