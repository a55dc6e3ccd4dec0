"""Operators: roles from QYZMET_OPERATORS and the command line, the console refused to citizens exactly like an
unknown command, application lookup (audited, IIN masked) and the overdue list, in both languages."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.deadlines import overdue_working_days
from store.applications import Application
from store.audit import AuditRepository
from store.opening import open_database
from store.users import UserRepository
from tests.harness import SEED, Chat
from tests.ophelp import harness
from tests.repos import repos

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = 7001
NUMBER = SEED["applications"][0]["number"]
IIN = SEED["applications"][0]["iin"]


def answer(chat: Chat) -> list[tuple[str, object]]:
    return [(m.plain_text, m.reply_markup) for m in chat.last]


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_console_commands_answer_citizens_like_an_unknown_command(h, lang):
    chat = Chat(h, 1201, lang)
    await chat.start_in(lang)
    await chat.send("/nosuchcommand")
    unknown = answer(chat)
    assert h.services.texts(lang, "input.unknown_command") in chat.texts()
    for command in ("/op", f"/find {NUMBER}", "/overdue", "/broadcast"):
        await chat.send(command)
        assert answer(chat) == unknown, command
    assert h.services.texts(lang, "op.btn.console") not in chat.buttons()
    # A forged console button gets what any unknown button gets, and no audit row is written.
    await chat.press_data(chat.last[-1].message_id, f"op:find:{NUMBER}")
    assert h.services.texts(lang, "stale.button") in chat.texts()
    assert await h.services.staff._audit.recent() == []


async def test_operators_from_the_environment_see_the_console(emu, database):
    h = await harness(emu, database, operators=f"{OPERATOR}, 7002")
    try:
        assert await h.services.staff.role(OPERATOR) == "operator"
        assert await h.services.staff.role(7002) == "operator"
        entries = await h.services.staff._audit.recent()
        assert {(e.actor, e.action, e.details["user_id"]) for e in entries} == {
            ("config", "staff_add", OPERATOR), ("config", "staff_add", 7002)}
        chat = Chat(h, OPERATOR, "ru")
        await chat.start_in("ru")
        assert "🛠 Пульт оператора" in chat.buttons()
        await chat.press("Пульт оператора")
        assert "Пульт оператора. Выберите действие." in chat.texts()
        assert {"Найти заявку по номеру", "Просроченные заявки", "Рассылка подписчикам"} <= set(chat.buttons())
        # An admin added meanwhile keeps the role after a restart with the same QYZMET_OPERATORS.
        await h.services.staff.add("cli", 7002, "admin")
        await h.restart()
        assert await h.services.staff.role(7002) == "admin"
        # Taking an operator's id out of QYZMET_OPERATORS takes the console away at the next start (audited);
        # the admin stays, and so does an operator added on the command line.
        await h.services.staff.add("cli", 7003)
        h.settings = h.settings.model_copy(update={"operators": "7002"})
        await h.restart()
        assert await h.services.staff.role(OPERATOR) is None
        assert await h.services.staff.role(7002) == "admin" and await h.services.staff.role(7003) == "operator"
        assert any(e.action == "staff_remove" and e.actor == "config" and e.details["user_id"] == OPERATOR
                   for e in await h.services.staff._audit.recent())
        await chat.send("/op")
        assert h.services.texts("ru", "input.unknown_command") in chat.texts()
    finally:
        await h.stop()


def qyzmet(*args: str, db: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
    env = {**clean, "QYZMET_DATABASE": db, "QYZMET_SECRET_KEY": "k", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot.app.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, input=stdin)


async def test_cli_add_remove_list_is_audited(tmp_path, database):
    db = database
    assert qyzmet("operators", "add", "501", db=db, cwd=tmp_path).returncode == 0
    assert qyzmet("operators", "add", "502", "--admin", db=db, cwd=tmp_path).returncode == 0
    listed = qyzmet("operators", "list", db=db, cwd=tmp_path)
    assert "501\toperator" in listed.stdout and "502\tadmin" in listed.stdout
    assert qyzmet("operators", "remove", "501", db=db, cwd=tmp_path).returncode == 0
    again = qyzmet("operators", "remove", "501", db=db, cwd=tmp_path)
    assert again.returncode == 1 and "not an operator" in again.stderr
    listed = qyzmet("operators", "list", db=db, cwd=tmp_path)
    assert "501" not in listed.stdout and "502\tadmin" in listed.stdout
    conn = await open_database(db)
    try:
        entries = await AuditRepository(conn).recent()
    finally:
        await conn.close()
    assert [(e.actor, e.action, e.details["user_id"]) for e in reversed(entries)] == [
        ("cli", "staff_add", 501), ("cli", "staff_add", 502), ("cli", "staff_remove", 501),
        ("cli", "staff_remove", 501)]


def test_run_refuses_a_bad_operators_list(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
    result = subprocess.run([sys.executable, "-m", "bot.app.cli", "run"], cwd=tmp_path, capture_output=True, text=True,
                            env={**clean, "PYTHONPATH": str(ROOT), "QYZMET_TELEGRAM_TOKEN": "1:x",
                                 "QYZMET_OPERATORS": "12, @boss"}, timeout=60)
    assert result.returncode == 2 and "QYZMET_OPERATORS" in result.stderr


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_lookup_shows_the_card_with_a_masked_iin_and_is_audited(emu, database, lang):
    h = await harness(emu, database, operators=str(OPERATOR))
    try:
        chat = Chat(h, OPERATOR, lang)
        await chat.start_in(lang)
        await chat.send(f"/find {NUMBER.lower().replace('-', ' ')}")
        text = chat.texts()
        assert NUMBER in text and IIN not in text and f"******{IIN[-4:]}" in text
        assert h.services.texts(lang, "service.social_services_docs.name") in text
        assert h.services.texts(lang, "status.in_progress") in text and h.services.texts(lang, "status.history") in text
        t = h.services.texts
        assert t(lang, "op.card.channel", channel=t(lang, "op.channel.seed")) in text  # named, not "seed"
        # By the button and the typed number too; a number that does not exist is audited as not found.
        await chat.send("/op")
        await chat.press(h.services.texts(lang, "op.btn.find"))
        await chat.send("QZ-000000-0000000")
        assert h.services.texts(lang, "op.find.not_found", number="QZ-000000-0000000") in chat.texts()
        await chat.send(IIN)  # an IIN typed by mistake is never written in clear
        entries = list(reversed(await h.services.staff._audit.recent(actor=str(OPERATOR))))
        assert [(e.action, e.number, e.details.get("found")) for e in entries] == [
            ("view_application", NUMBER, True), ("view_application", "QZ-000000-0000000", False),
            ("view_application", f"******{IIN[-4:]}", False)]
        rows = await h.services.db.fetchall("SELECT * FROM audit_log")
        assert not any(IIN in str(tuple(r)) for r in rows)
    finally:
        await h.stop()


async def test_overdue_list_most_overdue_first(emu, database):
    h = await harness(emu, database, operators=str(OPERATOR))
    try:
        now = h.clock.now()
        apps = repos(h.services).apps
        late = {"QZ-261101-0000001": 20, "QZ-261101-0000002": 3, "QZ-261101-0000003": 9}
        async with h.services.db.unit("test"):
            for number, days in late.items():
                await apps.add(Application(number, "drug_provision", "900715300451", "900715300451", None, "seed",
                                           now - timedelta(days=days + 1), now - timedelta(days=days), "accepted",
                                           None))
            # Past due but final, and open but not due yet: neither is listed.
            await apps.add(Application("QZ-261101-0000004", "drug_provision", "900715300451", None, None, "seed",
                                       now - timedelta(days=40), now - timedelta(days=39), "result_ready", None))
            await apps.add(Application("QZ-261101-0000005", "drug_provision", "900715300451", None, None, "seed",
                                       now, now + timedelta(hours=3), "accepted", None))
        chat = Chat(h, OPERATOR, "ru")
        await chat.start_in("ru")
        await chat.send("/overdue")
        text = chat.texts()
        listed = [n for n in sorted(late, key=late.get, reverse=True)]
        positions = [text.index(n) for n in listed]
        assert positions == sorted(positions), text
        assert "QZ-261101-0000004" not in text and "QZ-261101-0000005" not in text
        days = overdue_working_days(now - timedelta(days=20), now, h.services.calendar)
        assert h.services.texts.plural("ru", "op.overdue.days", days) in text
        # Seeded applications past due are listed too (their deadlines are in the past of the real clock).
        entries = await h.services.staff._audit.recent(actor=str(OPERATOR))
        assert entries[0].action == "list_overdue" and entries[0].details["total"] >= 3
        await chat.press(listed[0])
        assert listed[0] in chat.texts() and "******0451" in chat.texts()
    finally:
        await h.stop()


async def test_cli_broadcast_needs_a_confirmation_then_can_be_listed_and_cancelled(tmp_path, database):
    db = database
    assert qyzmet("operators", "list", db=db, cwd=tmp_path).returncode == 0  # creates the schema
    conn = await open_database(db)
    try:
        async with conn.unit("test/subscribers"):
            for user_id, lang in ((801, "kk"), (802, "ru")):
                await UserRepository(conn).set_language(user_id, lang, datetime(2026, 11, 25, tzinfo=UTC))
    finally:
        await conn.close()
    unconfirmed = qyzmet("broadcast", "--kk", "Хабарландыру", "--audience", "all", db=db, cwd=tmp_path, stdin="")
    assert unconfirmed.returncode == 2 and "2 recipients" in unconfirmed.stdout and "--yes" in unconfirmed.stderr
    queued = qyzmet("broadcast", "--kk", "Хабарландыру", "--audience", "all", "--yes", db=db, cwd=tmp_path)
    assert queued.returncode == 0 and "broadcast 1 queued for 2 recipients" in queued.stdout
    listed = qyzmet("broadcasts", db=db, cwd=tmp_path)
    assert "sending" in listed.stdout and "queued 2" in listed.stdout
    assert qyzmet("broadcasts", "--cancel", "1", db=db, cwd=tmp_path).returncode == 0
    listed = qyzmet("broadcasts", db=db, cwd=tmp_path)
    assert "cancelled" in listed.stdout and "skipped 2" in listed.stdout
    again = qyzmet("broadcasts", "--cancel", "1", db=db, cwd=tmp_path)
    assert again.returncode == 1 and "not being sent" in again.stderr


async def test_op_before_any_language_asks_for_it_then_opens_the_console_in_it(emu, database):
    """An operator's first /op: the language prompt first (not a Kazakh console whose buttons would then ask
    for it), and the console right after, in the language chosen."""
    h = await harness(emu, database, operators=str(OPERATOR))
    try:
        chat = Chat(h, OPERATOR, "ru")
        await chat.send("/op")
        assert "Қазақша" in chat.buttons() and "Русский" in chat.buttons()
        assert "Пульт оператора" not in chat.texts() and "Оператор пульті" not in chat.texts()
        await chat.press("Русский")
        assert "Пульт оператора. Выберите действие." in chat.texts()
        assert "Найти заявку по номеру" in chat.buttons()
        await chat.press("Найти заявку по номеру")  # the console's buttons now act at once
        assert "Выберите язык" not in chat.texts()
    finally:
        await h.stop()
