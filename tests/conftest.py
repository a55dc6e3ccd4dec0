from __future__ import annotations

import pytest

from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.state_systems import StateSystemsServer
from tests import browser as real_browser
from tests import engines
from tests.harness import SEED, TOKEN, Harness
from tests.sms_harness import SmsHarness

STATE_TOKEN = "test-state-token"


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL, run the tests that use a database (the ``database`` or ``empty_database`` fixture; ``h`` and
    ``sh`` use the first; a module whose database is module-scoped says so with ``pytest.mark.database``); the
    others do not depend on the engine and ran on SQLite already (scripts/test.sh runs both)."""
    if not engines.on_postgres():
        return
    uses = {"database", "empty_database"}
    kept = [item for item in items
            if uses & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("database") is not None]
    if len(kept) < len(items):
        kept_ids = {id(item) for item in kept}
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept_ids])
        items[:] = kept


@pytest.fixture
def database(tmp_path):
    """A new database of the suite's engine (tests/engines.py): a SQLite file, or a PostgreSQL database of the
    test's own (from a pool: reset to the migrated state after each test)."""
    yield engines.new_database(tmp_path)
    engines.release_databases()


@pytest.fixture
def empty_database(tmp_path):
    """Makes new databases of the suite's engine with no schema at all (not migrated): ``empty_database()``."""
    yield lambda name="empty": engines.empty_database(tmp_path, name)
    engines.release_databases()


@pytest.fixture
async def emu():
    emulator = BotApiEmulator(token=TOKEN)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def state_backend(request) -> str:
    """Where the bot finds the citizen directory and the registries: ``embedded`` (the seeded tables, the
    default) or ``http`` (the reference server of the contract, bot/sandbox/state_systems.py). A module runs
    its tests against both with ``pytestmark = pytest.mark.parametrize("state_backend", [...], indirect=True)``."""
    return getattr(request, "param", "embedded")


@pytest.fixture
async def h(emu, database, state_backend):
    harness = Harness(emu, database)
    server = None
    if state_backend == "http":
        server = StateSystemsServer(SEED, token=STATE_TOKEN)
        await server.start()
        harness.settings = harness.settings.model_copy(update={
            "directory_url": server.url, "registry_url": server.url, "state_token": STATE_TOKEN})
    await harness.start()
    harness.state_server = server  # type: ignore[attr-defined]
    yield harness
    await harness.stop()
    if server is not None:
        await server.stop()


@pytest.fixture
async def sh(emu, database):
    """The harness with the bot's HTTP server (SMS webhooks, feed, verification page) and fast outbox settings."""
    harness = SmsHarness(emu, database)
    await harness.start()
    yield harness
    await harness.close()


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by selenium, one per test module (tests/browser.py): its start costs about a
    second, a page a few hundredths. Skips where Chromium is missing, except in CI, where that fails the test."""
    reason = real_browser.missing()
    if reason is not None:
        if real_browser.in_ci():
            pytest.fail(f"CI needs the browser tests to run: {reason}", pytrace=False)
        pytest.skip(reason)
    with real_browser.chromium() as driver:
        yield driver
