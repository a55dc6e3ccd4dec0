"""Helpers of the operator and broadcast tests: a harness with its own settings, recipients, waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.sandbox.emulator import BotApiEmulator
from tests.harness import Harness
from tests.repos import repos


async def harness(emu: BotApiEmulator, path: Path | str, **settings: object) -> Harness:
    h = Harness(emu, path)
    h.settings = h.settings.model_copy(update={"broadcast_poll_seconds": 0.2, "broadcast_progress_seconds": 0.5,
                                               **settings})
    await h.start()
    return h


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition",
                state: Callable[[], Awaitable[object]] | None = None) -> None:
    """Wait for a state of the system (not a time): polls ``check`` until it is true. On a timeout the message
    says what ``state`` finds then (what was left undone), when given."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            found = f"; found {await state()}" if state is not None else ""
            raise AssertionError(f"timed out waiting for {what}{found}")
        await asyncio.sleep(0.05)


async def add_subscribers(h: Harness, user_ids: list[int], lang: str) -> None:
    """People who chose a language earlier (rows in users) and exist on the emulator's side."""
    for uid in user_ids:
        h.emu.add_user(uid, first_name=f"S{uid}", language_code=lang)
        async with h.services.db.unit("test"):
            await repos(h.services).users.set_language(uid, lang, h.clock.now())


def received(h: Harness, user_id: int, text: str | None = None) -> list[str]:
    """New messages (not edits) the bot sent to a chat, optionally only those equal to ``text``."""
    out = [m.plain_text or m.text or "" for m in h.emu.history(user_id) if m.kind == "message"]
    return [m for m in out if text is None or m == text]


async def finished(h: Harness, broadcast_id: int) -> bool:
    b = await h.services.broadcasts.get(broadcast_id)
    return b is not None and b.status in ("done", "cancelled")


async def broadcast_state(h: Harness, broadcast_id: int) -> str:
    """A broadcast's status and its recipients' counts, as a failed wait reports them."""
    b = await h.services.broadcasts.get(broadcast_id)
    return f"{b.status if b else None}, {await h.services.broadcasts.counts(broadcast_id)}"
