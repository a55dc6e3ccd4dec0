"""The Telegram channel's handlers are typed with a facade (bot/services.py ``TelegramServices``) that holds the use
cases they call and nothing below them: mypy --strict over handlers/ then refuses ``turn.services.db``."""

from __future__ import annotations

from bot.services import Services, TelegramServices


def test_the_telegram_channel_reaches_no_database_gateway_or_worker():
    reachable = set(TelegramServices.__annotations__)
    assert reachable <= set(Services.__dataclass_fields__)  # the container is one (mypy checks the types)
    below = {"db", "sms_gateway", "sms", "sms_inbound", "otps", "state", "state_outbox", "pending_results", "health",
             "_citizens", "_apps"}
    assert not reachable & below
