"""The HTTP gateways of the state systems against the reference server of the contract, and the circuit breaker
on its own: what counts as an answer, what is refused as not the contract's, and when calls stop going out."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web

from bot.clock import ShiftedClock
from bot.config import ConfigError, Settings, load_settings
from bot.gateways.circuit_breaker import CircuitBreaker
from bot.gateways.directory import HttpDirectory
from bot.gateways.monitoring import HttpMonitoring
from bot.gateways.registries import HttpRegistries
from bot.gateways.state_http import StateHttpClient
from bot.gateways.state_systems import NOT_OBSERVED, RegistryAnswer, StateSystemRejected, StateSystemUnavailable
from bot.sandbox.state_systems import StateSystemsServer
from store.opening import open_database
from tests.harness import CITIZENS, SEED

TOKEN = "gateway-token"
SERGEY = CITIZENS["Сергей"]
OLGA = CITIZENS["Ольга"]


@pytest.fixture
async def server():
    reference = StateSystemsServer(SEED, token=TOKEN)
    await reference.start()
    yield reference
    await reference.stop()


def client(server: StateSystemsServer, clock: ShiftedClock, token: str | None = TOKEN, **values) -> StateHttpClient:
    settings = Settings(_env_file=None, state_token=token, state_timeout_seconds=0.5, state_attempts=2,
                        state_breaker_failures=3, state_breaker_seconds=10, **values)
    return StateHttpClient("test system", server.url, settings, clock)


async def test_directory_answers_by_the_contract(server):
    http = client(server, ShiftedClock())
    directory = HttpDirectory(http)
    try:
        person = await directory.person(SERGEY["iin"])
        assert person is not None and person.full_name == SERGEY["full_name"] and person.phone == SERGEY["phone"]
        server.citizens[SERGEY["iin"]]["phone"] = "8 705 111 22 33"  # any common KZ format is normalized
        assert (await directory.person(SERGEY["iin"])).phone == "+77051112233"
        assert (await directory.person(OLGA["iin"])).phone is None
        assert await directory.person("111111111110") is None  # 404: not in the directory
    finally:
        await http.close()


@pytest.mark.parametrize("mode", ["wrong", "garbage", "fail", "other_person"])
async def test_directory_answers_that_are_not_the_contracts_are_not_used(server, mode):
    http = client(server, ShiftedClock())
    server.set("directory", mode)
    try:
        with pytest.raises(StateSystemUnavailable):
            await HttpDirectory(http).person(SERGEY["iin"])
    finally:
        await http.close()


async def test_an_answer_too_large_for_one_person_is_not_read(server):
    http = client(server, ShiftedClock())
    server.citizens[SERGEY["iin"]]["address"] = "ул. " + "А" * 70_000
    try:
        with pytest.raises(StateSystemUnavailable, match="ClientPayloadError"):
            await HttpDirectory(http).person(SERGEY["iin"])
    finally:
        await http.close()


async def test_registries_observed_not_observed_and_404(server):
    http = client(server, ShiftedClock())
    registries = HttpRegistries(http)
    try:
        assert await registries.lookup(SERGEY["iin"], "tb") == RegistryAnswer(True, "Фтизиатрия")
        assert await registries.lookup(SERGEY["iin"], "narcology") == RegistryAnswer(False, "Наркология")
        assert await registries.lookup(SERGEY["iin"], "psychiatry") == NOT_OBSERVED  # 404
        server.set("registries", "wrong")
        with pytest.raises(StateSystemUnavailable, match="malformed"):
            await registries.lookup(SERGEY["iin"], "tb")
        server.set("registries", "other_person")  # another person's answer, with the opposite mark
        with pytest.raises(StateSystemUnavailable, match="not the question asked"):
            await registries.lookup(SERGEY["iin"], "tb")
        with pytest.raises(StateSystemUnavailable, match="not the question asked"):
            await registries.lookup(SERGEY["iin"], "psychiatry")  # not observed (404) is not vouched for either
        server.heal()
        assert await registries.lookup(SERGEY["iin"], "tb") == RegistryAnswer(True, "Фтизиатрия")
        with pytest.raises(ValueError):
            await registries.lookup(SERGEY["iin"], "cardiology")
    finally:
        await http.close()


@pytest.fixture
async def fixed():
    """A registry that answers every question with the body put in ``answer["body"]``."""
    answer: dict[str, Any] = {"body": None}

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(answer["body"])

    app = web.Application()
    app.router.add_get("/registers/{register}/{iin}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    answer["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield answer
    await runner.cleanup()


DROP = object()


def asked(**changes: Any) -> dict[str, Any]:
    """Sergey's TB answer by the contract, with ``changes`` (``DROP`` leaves a field out)."""
    body = {"iin": SERGEY["iin"], "register": "tb", "observed": True, "source_system": "Фтизиатрия", **changes}
    return {k: v for k, v in body.items() if v is not DROP}


NOT_THE_CONTRACTS = {
    "another IIN, the opposite mark": {"iin": OLGA["iin"], "observed": False},
    "another register": {"register": "narcology"},
    "an unknown register": {"register": "cardiology"},
    "no iin": {"iin": DROP},
    "no register": {"register": DROP},
    "no observed": {"observed": DROP},
    "no source_system": {"source_system": DROP},
    "observed as a string": {"observed": "true"},
    "observed null": {"observed": None},
    "observed as a number": {"observed": 1},
    "source_system not a string": {"source_system": 5},
    "iin as a number": {"iin": int(SERGEY["iin"])},
}


@pytest.mark.parametrize("changes", NOT_THE_CONTRACTS.values(), ids=NOT_THE_CONTRACTS.keys())
async def test_a_registry_answer_that_is_not_the_question_asked_is_a_failure(fixed, changes):
    fixed["body"] = asked(**changes)
    http = StateHttpClient("registries", fixed["url"], Settings(_env_file=None, state_breaker_failures=1),
                           ShiftedClock())
    try:
        with pytest.raises(StateSystemUnavailable, match="malformed"):
            await HttpRegistries(http).lookup(SERGEY["iin"], "tb")
        assert http.breaker.state == "open"  # a failure of the system, like one that is down
    finally:
        await http.close()


@pytest.mark.parametrize("body", [[asked()], "ok", None])
async def test_a_registry_answer_that_is_not_an_object_is_a_failure(fixed, body):
    fixed["body"] = body
    http = StateHttpClient("registries", fixed["url"], Settings(_env_file=None), ShiftedClock())
    try:
        with pytest.raises(StateSystemUnavailable, match="malformed"):
            await HttpRegistries(http).lookup(SERGEY["iin"], "tb")
    finally:
        await http.close()


async def test_a_registry_answer_to_the_question_asked_is_used(fixed):
    http = StateHttpClient("registries", fixed["url"], Settings(_env_file=None), ShiftedClock())
    registries = HttpRegistries(http)
    try:
        fixed["body"] = asked()
        assert await registries.lookup(SERGEY["iin"], "tb") == RegistryAnswer(True, "Фтизиатрия")
        fixed["body"] = {**asked(), "observed": False, "source_system": None}
        assert await registries.lookup(SERGEY["iin"], "tb") == NOT_OBSERVED  # null: the register's own system
        fixed["body"] = {**asked(), "source_system": "  "}
        assert await registries.lookup(SERGEY["iin"], "tb") == RegistryAnswer(True, None)
    finally:
        await http.close()


async def test_an_answer_about_another_person_is_logged_masked(server, caplog):
    """A faulty registry (or directory) answering about someone else: a warning an operator can follow, with the
    asked person's IIN and the other one masked; the failure's reason (kept with a queued question) names no one."""
    http = client(server, ShiftedClock())
    server.set("registries", "other_person")
    server.set("directory", "other_person")
    try:
        with caplog.at_level(logging.WARNING, logger="bot.gateways.state_http"):
            with pytest.raises(StateSystemUnavailable) as failure:
                await HttpRegistries(http).lookup(SERGEY["iin"], "tb")
            with pytest.raises(StateSystemUnavailable):
                await HttpDirectory(http).person(SERGEY["iin"])
    finally:
        await http.close()
    assert "not the question asked" in failure.value.reason and SERGEY["iin"][-4:] not in failure.value.reason
    warnings = [r.getMessage() for r in caplog.records if "answered the question about" in r.getMessage()]
    assert len(warnings) == 2, caplog.text
    assert all(f"******{SERGEY['iin'][-4:]}" in w and "another IIN (******" in w for w in warnings)
    assert "(tb)" in warnings[0]
    everyone = [c["iin"] for c in SEED["citizens"]]
    assert not any(iin in caplog.text for iin in everyone), caplog.text


async def test_the_bearer_token_is_sent_and_required(server):
    without = client(server, ShiftedClock(), token=None)
    with_token = client(server, ShiftedClock())
    try:
        with pytest.raises(StateSystemUnavailable):
            await HttpDirectory(without).person(SERGEY["iin"])
        assert await HttpDirectory(with_token).person(SERGEY["iin"]) is not None
    finally:
        await without.close()
        await with_token.close()


async def test_retries_are_bounded_and_the_breaker_opens_then_tries_once(server):
    clock = ShiftedClock()
    http = client(server, clock)
    registries = HttpRegistries(http)
    server.set("registries", "fail")
    try:
        with pytest.raises(StateSystemUnavailable):
            await registries.lookup(SERGEY["iin"], "tb")
        assert server.requests["registries"] == 2  # two tries in one call
        with pytest.raises(StateSystemUnavailable):
            await registries.lookup(SERGEY["iin"], "tb")
        assert server.requests["registries"] == 3  # the third failure opened the breaker
        assert http.breaker.state == "open" and not http.reachable()
        with pytest.raises(StateSystemUnavailable, match="circuit open"):
            await registries.lookup(SERGEY["iin"], "tb")
        assert server.requests["registries"] == 3  # not called while open
        clock.advance(seconds=11)
        with pytest.raises(StateSystemUnavailable):
            await registries.lookup(SERGEY["iin"], "tb")
        assert server.requests["registries"] == 4  # half-open: one trial, which failed: open again
        clock.advance(seconds=11)
        server.heal()
        assert (await registries.lookup(SERGEY["iin"], "tb")).observed
        assert http.breaker.state == "closed"
    finally:
        await http.close()


async def test_a_slow_system_times_out(server):
    http = client(server, ShiftedClock())
    server.set("directory", "slow", delay=2.0)
    try:
        with pytest.raises(StateSystemUnavailable, match="TimeoutError"):
            await HttpDirectory(http).person(SERGEY["iin"])
    finally:
        await http.close()


async def test_monitoring_accepts_2xx_refuses_4xx_and_fails_on_5xx(server):
    http = client(server, ShiftedClock())
    monitoring = HttpMonitoring(http)
    stage = {"key": "QZ-261125-0000001:accepted", "number": "QZ-261125-0000001", "service": "tb_info",
             "status": "accepted", "at": "2026-11-25T05:00:00+00:00", "ground": None}
    try:
        await monitoring.post_stage(stage)
        await monitoring.post_stage(stage)
        assert len(server.stage_posts) == 2 and list(server.stages) == [stage["key"]]
        with pytest.raises(StateSystemRejected):
            await monitoring.post_stage({"key": "x"})  # 422: posting it again will not help
        server.set("monitoring", "fail")
        with pytest.raises(StateSystemUnavailable):
            await monitoring.post_stage(stage)
        assert server.requests["monitoring"] == 4  # a POST is tried once: the outbox tries again later
    finally:
        await http.close()


def test_breaker_on_its_own():
    clock = ShiftedClock()
    breaker = CircuitBreaker("x", failures=2, open_seconds=5, clock=clock)
    assert breaker.allow()
    breaker.failure()
    breaker.success()  # an answer resets the count
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(seconds=5)
    assert breaker.state == "half_open" and breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.abandon()  # a cancelled trial leaves the way open for another
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"


def test_state_settings(monkeypatch, tmp_path):
    for name in ("DIRECTORY", "REGISTRY", "MONITORING", "COMPLAINTS"):
        monkeypatch.setenv(f"QYZMET_{name}_URL", "")
    settings = load_settings(_env_file=None)
    assert settings.directory_url is None and settings.monitoring_url is None  # empty: off / embedded
    with pytest.raises(ConfigError, match="QYZMET_REGISTRY_URL"):
        load_settings(_env_file=None, registry_url="ftp://registry")
    with pytest.raises(ConfigError, match="QYZMET_STATE_RETRY_MAX_SECONDS"):
        load_settings(_env_file=None, state_retry_base_seconds=10, state_retry_max_seconds=5)
    assert "s3cret" in load_settings(_env_file=None, state_token="s3cret").secret_values()
    from bot.gateways.state_http import client_tls
    with pytest.raises(ConfigError, match="QYZMET_STATE_CLIENT_CERT"):
        client_tls(load_settings(_env_file=None, state_client_cert=tmp_path / "missing.pem"))


async def test_a_lookup_has_its_full_timeout_wherever_it_is_made(server, database):
    """The gateway does not look at the database: callers ask before their unit of work begins
    (tests/e2e/test_outside_calls.py), so a lookup has its full timeout and tries whoever makes it — a slow
    system's answer within the timeout is used, not given up after a shortened try."""
    settings = Settings(_env_file=None, state_token=TOKEN, state_timeout_seconds=3.0, state_attempts=2,
                        state_breaker_failures=9, state_breaker_seconds=10)
    http = StateHttpClient("test system", server.url, settings, ShiftedClock())
    directory = HttpDirectory(http)
    db = await open_database(database)
    server.set("directory", "slow", delay=1.6)  # slower than the old short try (1 s), quicker than the timeout
    try:
        async with db.unit("test/begun"):
            await db.write("CREATE TABLE t (x INTEGER)")
            assert (await directory.person(SERGEY["iin"])) is not None
    finally:
        await db.close()
        await http.close()
