"""The demo's transcript in a terminal: what arrives while the prompt waits, narrow terminals, old runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.sandbox import demo
from bot.sandbox.emulator import SentMessage


@pytest.fixture(autouse=True)
def _no_prompt():
    demo._Output.prompt = None
    yield
    demo._Output.prompt = None


def test_a_message_arriving_while_the_prompt_waits_goes_below_it_and_the_prompt_comes_back(capsys):
    demo._Output.prompt = "1001> "
    demo.say(demo._Output.prompt, end="")
    demo.say_meanwhile("🤖 Бот:\n   Хабарлама / Оповещение\n")
    out = capsys.readouterr().out
    # Not "1001> 🤖 Бот:": the block starts on a line of its own, and the prompt is printed again after it.
    assert out == "1001> \n🤖 Бот:\n   Хабарлама / Оповещение\n\n1001> "


def test_a_message_while_nobody_is_at_the_prompt_is_printed_as_is(capsys):
    demo.say_meanwhile("📨 SMS → +77051112233: ДА 123456\n")
    assert capsys.readouterr().out == "📨 SMS → +77051112233: ДА 123456\n\n"


def _message(text: str) -> SentMessage:
    return SentMessage(message_id=7, chat_id=1001, text=text)


def test_long_lines_wrap_between_words_and_keep_their_indent_in_an_80_column_terminal():
    text = ("Туберкулезбен ауыратын науқастардың тіркелімінде тұрғаны туралы мәлімет беру / Выдача справки "
            "о состоянии на учете в регистре больных туберкулезом, психиатрии и наркологии здравоохранения")
    block = demo.format_bot_message(_message(text), 1001, width=80)
    lines = block.splitlines()[1:]
    assert all(len(line) <= 80 for line in lines)
    assert all(line.startswith("   ") for line in lines if line)
    words = [w for line in lines for w in line.split()]
    assert words == text.split()  # no word cut in two («здравоохранени/я»)


def test_a_script_transcript_is_never_wrapped():
    long = "слово " * 40
    block = demo.format_bot_message(_message(long), 1001, width=None)
    assert block.splitlines()[1] == "   " + long


def test_only_the_newest_demo_runs_are_kept(tmp_path: Path):
    runs = []
    for i in range(5):
        database = tmp_path / f"demo-2026120{i}-000000.sqlite3"
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), database.with_suffix(".log")):
            path.write_text("x")
            stamp = time.time() - 100 + i
            os.utime(path, (stamp, stamp))
        runs.append(database)
    other = tmp_path / "mine.sqlite3"  # a database given with --database is never the demo's to remove
    other.write_text("x")
    removed = demo.forget_old_runs(tmp_path, 2)
    assert len(removed) == 12
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([runs[3].name, runs[4].name, f"{runs[3].name}-shm", f"{runs[3].name}-wal",
                           f"{runs[4].name}-shm", f"{runs[4].name}-wal", runs[3].with_suffix(".log").name,
                           runs[4].with_suffix(".log").name, "mine.sqlite3"])


def test_every_note_of_the_demo_population_is_written_for_kk_and_ru_readers():
    """A provider's note is shown as written on the card, in either language: the demo's are not English."""
    import json
    import re

    seed = json.loads(demo.SEED_PATH.read_text(encoding="utf-8"))
    notes: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            notes.extend(v for k, v in node.items() if k == "note" and isinstance(v, str))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(seed)
    assert notes
    for note in notes:
        assert not re.search(r"[A-Za-z]{3}", note), note
        kk, _, ru = note.partition(" / ")  # both languages, Kazakh first, as the demo's own texts
        assert re.search(r"[ӘәҒғҚқҢңӨөҰұҮүҺһІі]", kk) and ru and re.fullmatch(r"[А-Яа-яЁё ,.-]+", ru), note
