"""Updates of different people are answered in parallel; the updates of one person strictly one after another.

Why: answering an update is mostly waiting for Bot API round trips; while one person's answer is on its way,
another person's update can be worked on. One person's conversation state must see its updates in order, so
updates of the same user wait for each other (FIFO, in the order they were received).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import MessageEntity, Update
from telegram.ext import BaseUpdateProcessor


class _Queue:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # updates holding or waiting for the lock


Around = Callable[[object, Awaitable[Any]], Awaitable[None]]


async def _plain(update: object, coroutine: Awaitable[Any]) -> None:
    await coroutine


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """``around`` wraps the handling of each update (the update's unit of work, handlers/telegram/turn.py);
    ``answered`` listeners hear of each update once it is fully answered (its replies delivered) — the demo
    and the tests wait on it; ``timed`` listeners hear how long that took from the update's arrival here,
    waiting behind the same person's earlier updates included (the metrics)."""

    __slots__ = ("_queues", "answered", "around", "timed")

    def __init__(self, max_concurrent_updates: int, around: Around = _plain) -> None:
        super().__init__(max_concurrent_updates)
        self._queues: dict[int, _Queue] = {}
        self.around = around
        self.answered: list[Callable[[object], None]] = []
        self.timed: list[Callable[[object, float], None]] = []

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        arrived = time.monotonic()
        try:
            await self._process(update, coroutine)
        finally:
            seconds = time.monotonic() - arrived
            for timer in self.timed:
                timer(update, seconds)
            for listener in self.answered:
                listener(update)

    async def _process(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = sender_of(update)
        if key is None:
            await self.around(update, coroutine)
            return
        entry = self._queues.get(key)
        if entry is None:
            entry = self._queues[key] = _Queue()
        entry.users += 1
        try:
            async with entry.lock:  # asyncio.Lock is FIFO: a person's updates keep their order
                await self.around(update, coroutine)
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._queues[key]  # nobody holds or waits: nothing kept per idle person

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def sender_of(update: object) -> int | None:
    """Whose updates must wait for each other: the sending user (else the chat); None: nobody's."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


def update_kind(update: object) -> str:
    """What kind of update it is, for the metrics: ``command``, ``message``, ``button`` or ``other``."""
    if not isinstance(update, Update):
        return "other"
    if update.callback_query is not None:
        return "button"
    message = update.message
    if message is None:
        return "other"  # edited messages, member updates, …
    if any(e.type == MessageEntity.BOT_COMMAND and e.offset == 0 for e in message.entities):
        return "command"
    return "message"
