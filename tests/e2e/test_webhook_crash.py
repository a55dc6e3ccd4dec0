"""Webhook mode under a crash: `qyzmet run` with QYZMET_TELEGRAM_WEBHOOK_URL as a real process, killed while it
handles a posted update (before or after its commit). Telegram (the emulator) got no answer, so it posts the
update again once the bot is back; the person is answered once and sent one code."""

from __future__ import annotations

import pytest

from tests.e2e.test_crash import SERGEI, BotProcess, Person, seed, text_of, to_the_iin_step
from tests.sms_harness import FakeGateway
from tests.webhook_harness import WEBHOOK_SECRET


class WebhookBotProcess(BotProcess):
    def env(self, crash_at: str | None) -> dict[str, str]:
        return {**super().env(crash_at), "QYZMET_TELEGRAM_WEBHOOK_URL": f"{self.base}/telegram",
                "QYZMET_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
async def hooked(emu, database):
    gateway = FakeGateway()
    await gateway.start()
    await seed(database)
    emu.webhook_retry_seconds = 0.1
    bot = WebhookBotProcess(emu, gateway, database)
    try:
        yield bot, gateway
    finally:
        await bot.stop()
        await bot.client.aclose()
        await gateway.stop()


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
async def test_a_posted_update_killed_around_its_commit_is_posted_again_and_acted_on_once(hooked, emu, point):
    bot, gateway = hooked
    await bot.start()
    person = Person(emu, 7101)
    await to_the_iin_step(person, SERGEI)
    assert emu.stats["requests"]["getUpdates"] == 0
    await bot.stop()

    await bot.start(crash_at=f"{point}:turn")  # the next update that writes dies at its commit
    update_id = await emu.send_text(person.user_id, SERGEI["iin"])
    await bot.crashed()
    await bot.start()
    answered = await person.answers(quiet=0.5)
    await emu.webhook_idle()
    statuses = emu.webhook_statuses(update_id)
    assert statuses[0] is None and statuses[-1] == 200, statuses  # no answer from the dead process, then 200
    assert len(answered) == 1, text_of(answered)  # one answer to the IIN, whichever attempt gave it
    codes = {r["id"] for r in gateway.accepted() if r["to"] == SERGEI["phone"]}
    assert len(codes) == 1  # one code
