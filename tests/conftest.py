from __future__ import annotations

import pytest

from bot.sandbox.emulator import BotApiEmulator
from tests.harness import TOKEN, Harness


@pytest.fixture
async def emu():
    emulator = BotApiEmulator(token=TOKEN)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def h(emu, tmp_path):
    harness = Harness(emu, tmp_path / "qyzmet.sqlite3")
    await harness.start()
    yield harness
    await harness.stop()
