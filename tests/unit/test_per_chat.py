"""PerChatUpdateProcessor: one person's updates in order, different people's in parallel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from handlers.telegram.per_chat import PerChatUpdateProcessor


def update(update_id: int, user_id: int) -> Update:
    user = User(user_id, f"U{user_id}", False)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), Chat(user_id, "private"),
                                             from_user=user, text="x"))


async def test_one_persons_updates_wait_for_each_other_and_keep_their_order():
    processor = PerChatUpdateProcessor(8)
    log: list[str] = []
    gate = asyncio.Event()

    async def work(name: str, wait: bool) -> None:
        log.append(f"{name} start")
        if wait:
            await gate.wait()
        log.append(f"{name} end")

    tasks = [asyncio.create_task(processor.process_update(update(1, 7), work("a1", True))),
             asyncio.create_task(processor.process_update(update(2, 7), work("a2", False))),
             asyncio.create_task(processor.process_update(update(3, 8), work("b1", False)))]
    await asyncio.sleep(0.05)
    # Person 8 was answered while person 7's first update was still being worked on; 7's second waits.
    assert log == ["a1 start", "b1 start", "b1 end"]
    gate.set()
    await asyncio.gather(*tasks)
    assert log[3:] == ["a1 end", "a2 start", "a2 end"]
    assert processor._queues == {}  # nothing kept for idle people
