"""Shared pieces for the webhook tests (no tests here): the bot in webhook mode on a port of its own, the
emulator posting updates to it as Telegram does, and updates posted by hand."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx

from bot.app.runner import RunningBot
from bot.core.seed import Seed
from bot.sandbox.emulator import BotApiEmulator, SentMessage
from bot.services import Services
from handlers.http.telegram_webhook import SECRET_HEADER
from tests.harness import SEED, TOKEN, Chat
from tests.sms_harness import SmsHarness

WEBHOOK_SECRET = "webhook-secret_42"
RETRY_SECONDS = 0.05  # the emulator posts a refused update again this soon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebhookHarness(SmsHarness):
    """The SMS harness's bot, taking its updates by webhook: QYZMET_TELEGRAM_WEBHOOK_URL points at its own HTTP
    server (or ``webhook_url``: a proxy in front of several). ``receive_updates`` / ``run_workers`` choose the
    process shape (``web`` is receive only)."""

    def __init__(self, emu: BotApiEmulator, database: Path | str, port: int | None = None,
                 receive_updates: bool = True, run_workers: bool = True, seed: bool = True,
                 webhook_url: str | None = None, **overrides: Any) -> None:
        self.port = port or free_port()
        super().__init__(emu, database, http_port=self.port, telegram_webhook_secret=WEBHOOK_SECRET,
                         telegram_webhook_url=webhook_url or f"http://127.0.0.1:{self.port}/telegram", **overrides)
        self.receive_updates, self.run_workers, self.seed = receive_updates, run_workers, seed
        emu.webhook_retry_seconds = RETRY_SECONDS

    async def start(self) -> None:
        # With a fake gateway (its URL in the settings), Services.open builds the HTTP client to it.
        gateway = None if self.fake is not None else self.gateway
        self.services = await Services.open(self.settings, clock=self.clock, sms_gateway=gateway)
        if self.seed:
            await self.services.load_seed(Seed.model_validate(SEED))
        self.bot = await RunningBot.start(self.services, TOKEN, self.emu.base_url, self.emu.base_file_url,
                                          http=True, http_port=self.port, receive_updates=self.receive_updates,
                                          run_workers=self.run_workers)
        self.watch_updates()

    @property
    def webhook(self) -> str:
        return f"{self.base}/telegram"

    async def post_update(self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
        """POST an update to the webhook by hand, as Telegram would (with ``secret`` in its header)."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return await self.client.post(self.webhook, content=json.dumps(update), headers=headers)


def text_update(update_id: int, user_id: int, text: str, message_id: int = 1, lang: str = "ru") -> dict[str, Any]:
    """A private-chat text message update as Telegram posts it (a /command gets its entity)."""
    user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": lang}
    message: dict[str, Any] = {"message_id": message_id, "date": 1_764_500_000, "text": text, "from": user,
                               "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"}}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def press_update(update_id: int, user_id: int, message: SentMessage, data: str) -> dict[str, Any]:
    """A button press on the bot's ``message`` as Telegram posts it."""
    chat = {"id": user_id, "type": "private", "first_name": f"User{user_id}"}
    bot = {"id": 123456, "is_bot": True, "first_name": "Qyzmet", "username": "qyzmet_test_bot"}
    return {"update_id": update_id, "callback_query": {
        "id": f"43000000{update_id}", "chat_instance": "1", "data": data,
        "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
        "message": {"message_id": message.message_id, "date": 1_764_500_000, "text": message.plain_text or "",
                    "chat": chat, "from": bot}}}


__all__ = ["RETRY_SECONDS", "WEBHOOK_SECRET", "WebhookHarness", "free_port", "press_update", "text_update"]


async def own_tb_flow(chat: Chat) -> SentMessage:
    """Sergei asks for his own TB registry information in Russian, from the language choice to the certificate
    (checked: his name and the status); returns the certificate."""
    await chat.start_in("ru")
    await chat.press("Сведения о себе")
    await chat.press("фтизиатрия")
    await chat.identify("Сергей")
    certificate = next(m for m in chat.last if m.protect_content)
    assert "Иванов Сергей Петрович" in certificate.plain_text and "состоит" in certificate.plain_text
    return certificate
