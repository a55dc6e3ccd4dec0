"""`qyzmet seed`: a file with a mistake loads nothing and says where the mistake is; the history it writes is
the file's, never a made-up stage."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bot.core.seed import Seed, SeedError, load_seed, parse_seed
from bot.core.status_feed import InvalidEvent, parse_event
from bot.domain.calendar import WorkingCalendar
from store import db
from store.applications import ApplicationRepository
from store.citizens import CitizenRepository
from store.opening import open_database
from tests.integration.test_cli import SEED, db_env, qyzmet

GOOD = json.loads(SEED.read_text(encoding="utf-8"))
SOMEONE_ELSE = "040101500217"  # a valid IIN that is not among the file's citizens


def seed_file(tmp_path: Path, database: str, data: object) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path, db_env(database)


async def count(database: str, table: str) -> int:
    opened = await open_database(database)
    try:
        return await opened.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await opened.close()


def changed(edit) -> dict:
    data = copy.deepcopy(GOOD)
    edit(data)
    return data


CASES = [
    (lambda d: d["applications"][0].update(number="BAD"), "applications[0].number: not an application number"),
    (lambda d: d["applications"][1].update(status="weird"), "applications[1].status: must be one of accepted, "),
    (lambda d: d["applications"][0]["events"][1].update(status="zzz"), "applications[0].events[1].status: must be"),
    (lambda d: d["applications"][0].update(service="tb"), "applications[0].service: unknown service code; one of "
                                                          "tb_info, psychiatry_info"),
    (lambda d: d.update(citizen=d.pop("citizens")), "citizen: unknown key (expected citizens, registry, applications)"),
    (lambda d: d["citizens"][2].update(fullname="X"), "citizens[2].fullname: unknown key"),
    (lambda d: d["citizens"].append(dict(d["citizens"][1])), "citizens[5].iin: the same IIN as citizens[1]"),
    (lambda d: d["registry"].append({"iin": SOMEONE_ELSE, "register": "tb", "observed": True, "source_system": "x"}),
     "registry[6].iin: not among the citizens of this file"),
    (lambda d: d["applications"][1].update(iin=SOMEONE_ELSE), "applications[1].iin: not among the citizens"),
    (lambda d: d["citizens"][0].update(iin="900715300452"), "citizens[0].iin: not a valid IIN"),
    (lambda d: d["applications"][0].update(submitted_at="2026-11-20T10:15:00"), "applications[0].submitted_at: must "
                                                                                "carry its time zone"),
    (lambda d: d["applications"][0].update(status="accepted"), "applications[0].status: accepted, but the last event "
                                                               "is in_progress"),
    (lambda d: d["applications"][0]["events"].reverse(), "applications[0].events[1].at: earlier than events[0]"),
    (lambda d: d["applications"][0]["events"][0].update(at="2026-11-20T12:00:00+05:00"),
     "applications[0].events[0].at: the first event is the submission"),
    (lambda d: d["registry"][0].update(register="tbc"), "registry[0].register: must be one of tb, psychiatry or "
                                                        "narcology"),
    (lambda d: d["citizens"][3].update(birth_date="1990-13-01"), "citizens[3].birth_date: must be a date"),
]


@pytest.mark.parametrize("edit, line", CASES)
def test_a_mistake_is_a_line_pointing_into_the_file_and_nothing_is_loaded(edit, line):
    with pytest.raises(SeedError) as caught:
        parse_seed(changed(edit))
    assert any(problem.startswith(line) for problem in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("edit, line", [CASES[0], CASES[1], CASES[2], CASES[4], CASES[6], CASES[7]])
async def test_the_command_refuses_and_loads_nothing(tmp_path, database, edit, line):
    path, env = seed_file(tmp_path, database, changed(edit))
    result = qyzmet("seed", str(path), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert line in result.stderr and "nothing loaded" in result.stderr
    assert "validation error" not in result.stderr and "pydantic" not in result.stderr  # not pydantic's dump
    assert await count(database, "citizens") == 0 and await count(database, "applications") == 0


def test_every_problem_is_reported_at_once(tmp_path, database):
    data = changed(lambda d: (d["applications"][0].update(number="BAD"), d["applications"][1].update(status="weird")))
    path, env = seed_file(tmp_path, database, data)
    result = qyzmet("seed", str(path), cwd=tmp_path, env=env)
    assert "applications[0].number" in result.stderr and "applications[1].status" in result.stderr
    assert "2 problems" in result.stderr


def test_a_file_that_is_not_json_says_where(tmp_path, database):
    path = tmp_path / "seed.json"
    path.write_text('{"citizens": [}', encoding="utf-8")
    result = qyzmet("seed", str(path), cwd=tmp_path, env=db_env(database))
    assert result.returncode == 1 and "line 1, column 15" in result.stderr


def test_the_status_feed_refuses_the_same_number():
    event = {"number": "BAD", "iin": GOOD["citizens"][0]["iin"], "service": "tb_info", "status": "accepted",
             "at": "2026-11-20T10:15:00+05:00"}
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event)
    assert caught.value.field == "number"
    assert parse_event({**event, "number": "MIS-2026/000123"}).number == "MIS-2026/000123"  # providers' numbers


async def load(database: db.Database, seed: Seed) -> dict[str, int]:
    """As Services.load_seed does: the whole file in one unit of work."""
    async with database.unit("seed"):
        return await load_seed(seed, CitizenRepository(database), ApplicationRepository(database),
                               WorkingCalendar.from_file())


async def history(database: str, data: dict) -> dict[str, list[tuple[str, str, str | None]]]:
    conn = await open_database(database)
    try:
        await load(conn, parse_seed(data))
        apps = ApplicationRepository(conn)
        return {a["number"]: [(e.status, e.at.isoformat(), e.note) for e in await apps.events(a["number"])]
                for a in data["applications"]}
    finally:
        await conn.close()


async def test_the_history_is_the_files_events(database):
    events = await history(database, GOOD)
    assert events["QZ-261120-0000101"] == [("accepted", "2026-11-20T05:15:00+00:00", None),
                                           ("in_progress", "2026-11-23T04:30:00+00:00", "needs assessment")]


async def test_without_events_the_history_is_the_status_at_submission(database):
    data = changed(lambda d: d["applications"][0].update(events=[]))
    events = await history(database, data)
    assert events["QZ-261120-0000101"] == [("in_progress", "2026-11-20T05:15:00+00:00", None)]
    assert events["QZ-261124-0000102"] == [("accepted", "2026-11-24T12:40:00+00:00", None)]


async def test_a_failure_while_writing_leaves_nothing(database, monkeypatch):
    async def broken(self, *args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(ApplicationRepository, "set_status", broken)
    conn = await open_database(database)
    try:
        with pytest.raises(RuntimeError):
            await load(conn, Seed.model_validate(GOOD))
        for table in ("citizens", "registry_records", "applications", "application_events"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    finally:
        await conn.close()


async def test_loading_twice_changes_nothing(database):
    conn = await open_database(database)
    try:
        seed = parse_seed(GOOD)
        assert (await load(conn, seed))["applications"] == 2
        assert (await load(conn, seed))["applications"] == 0
        assert await conn.fetchval("SELECT count(*) FROM application_events") == 3
    finally:
        await conn.close()
