"""End-to-end harness: the real python-telegram-bot Application, the project's Bot API emulator over HTTP on
127.0.0.1, a real SQLite file, and the embedded SMS gateway whose messages the test reads like a phone would."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from telegram import Update

from bot.app.runner import RunningBot
from bot.clock import ShiftedClock
from bot.config import Settings
from bot.core.seed import Seed
from bot.gateways.sms_gateway import PrintingSmsGateway
from bot.sandbox.emulator import BotApiEmulator, NoMessageError, SentMessage
from bot.services import Services

TOKEN = "123456:TEST-TOKEN"
SEED = json.loads((Path(__file__).parent / "data" / "seed.json").read_text(encoding="utf-8"))
CITIZENS = {c["full_name"].split()[1]: c for c in SEED["citizens"]}


@dataclass
class Phone:
    """What arrived on each phone by SMS."""
    inbox: dict[str, list[str]] = field(default_factory=dict)

    def receive(self, to: str, text: str) -> None:
        self.inbox.setdefault(to, []).append(text)

    def last(self, phone: str) -> str:
        assert self.inbox.get(phone), f"no SMS to {phone}"
        return self.inbox[phone][-1]

    def code(self, phone: str) -> str:
        match = re.search(r"(?<!\d)(\d{6})(?!\d)", self.last(phone))
        assert match, self.last(phone)
        return match.group(1)


class Harness:
    def __init__(self, emu: BotApiEmulator, database: Path | str) -> None:
        self.emu = emu
        self.clock = ShiftedClock()
        self.phone = Phone()
        self.gateway = PrintingSmsGateway()
        self.gateway.listeners.append(self.phone.receive)
        self.settings = Settings(database=str(database), secret_key="test-secret", sweep_interval_seconds=3600,
                                 _env_file=None)
        self.services: Services | None = None
        self.bot: RunningBot | None = None
        self._done: dict[int, asyncio.Event] = {}

    async def start(self) -> None:
        self.services = await Services.open(self.settings, clock=self.clock, sms_gateway=self.gateway)
        await self.services.load_seed(Seed.model_validate(SEED))
        self.bot = await RunningBot.start(self.services, TOKEN, self.emu.base_url, self.emu.base_file_url,
                                          poll_timeout=1, poll_interval=0)  # tests answer one update at a time
        self.watch_updates()

    def watch_updates(self) -> None:
        """The test knows when the bot has finished answering an update (its replies delivered)."""
        assert self.bot is not None

        def answered(update: object) -> None:
            if isinstance(update, Update):
                self._done.setdefault(update.update_id, asyncio.Event()).set()

        self.bot.application.update_processor.answered.append(answered)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self.bot:
            await self.bot.stop()
        if self.services:
            await self.services.close()
        self.bot = self.services = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


    async def processed(self, update_id: int, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._done.setdefault(update_id, asyncio.Event()).wait(), timeout)
        await self.delivered()

    async def delivered(self, timeout: float = 10.0) -> None:
        """Wait until the outbox workers have delivered everything that is due (the bot owes nothing now)."""
        assert self.services is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = self.clock.now().timestamp()
            waiting = await self.services.db.fetchval(
                "SELECT (SELECT count(*) FROM telegram_outbox WHERE status IN ('queued', 'sending') "
                "AND coalesce(next_attempt_at, 0) <= ?) + (SELECT count(*) FROM sms_outbox "
                "WHERE status IN ('queued', 'sending') AND coalesce(next_attempt_at, 0) <= ?)", (now, now))
            if not waiting:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{waiting} outbox messages still undelivered")
            await asyncio.sleep(0.01)

    def drain(self, chat_id: int) -> list[SentMessage]:
        """What the bot did in the chat since the last look, without waiting for more."""
        return self.emu.drain(chat_id)

    async def sweep(self) -> None:
        """Run the periodic sweep once, as the worker would."""
        assert self.services is not None
        await self.services.sweep.run()
        await self.delivered()


class Chat:
    """One citizen's private chat with the bot."""

    def __init__(self, h: Harness, user_id: int, lang: str = "ru") -> None:
        self.h = h
        self.user_id = user_id
        self.lang = lang
        h.emu.add_user(user_id=user_id, first_name=f"User{user_id}", language_code=lang)
        self.last: list[SentMessage] = []

    async def after(self, update_id: int) -> list[SentMessage]:
        """Wait until the bot has handled ``update_id`` (as returned by an ``emu.send_*``) and
        return what it sent meanwhile; for user actions ``Chat`` has no shortcut for."""
        await self.h.processed(update_id)
        self.last = self.h.drain(self.user_id)
        return self.last

    async def send(self, text: str) -> list[SentMessage]:
        if text.startswith("/"):
            return await self.after(await self.h.emu.send_command(self.user_id, text))
        return await self.after(await self.h.emu.send_text(self.user_id, text))

    async def contact(self, phone: str, own: bool = True) -> list[SentMessage]:
        contact_user = self.user_id if own else self.user_id + 1_000_000
        return await self.after(await self.h.emu.send_contact(self.user_id, phone_number=phone,
                                                              contact_user_id=contact_user))

    async def photo(self) -> list[SentMessage]:
        return await self.after(await self.h.emu.send_photo(self.user_id))

    async def press(self, label: str) -> list[SentMessage]:
        """Press the inline button whose text contains ``label`` on the newest message that has one."""
        for message in reversed(self.h.emu.messages(self.user_id)):
            for text, data in BotApiEmulator.inline_buttons(message):
                if label in text:
                    return await self.press_data(message.message_id, data)
        raise AssertionError(f"no button {label!r}; last messages: {self.texts()}")

    async def press_data(self, message_id: int, data: str) -> list[SentMessage]:
        update_id, _ = self.h.emu.press_button(self.user_id, message_id, data)
        return await self.after(update_id)

    def texts(self) -> str:
        return "\n---\n".join((m.plain_text or m.text or "") for m in self.last)

    def buttons(self) -> list[str]:
        return [text for m in self.last for text, _ in BotApiEmulator.inline_buttons(m)]

    async def start_in(self, lang: str) -> None:
        await self.send("/start")
        await self.press("Русский" if lang == "ru" else "Қазақша")

    async def identify(self, name: str) -> None:
        """Language chosen, own contact shared, IIN typed, code from the SMS typed."""
        citizen = CITIZENS[name]
        await self.contact(citizen["phone"])
        await self.send(citizen["iin"])
        await self.send(self.h.phone.code(citizen["phone"]))


__all__ = ["CITIZENS", "Chat", "Harness", "NoMessageError"]
