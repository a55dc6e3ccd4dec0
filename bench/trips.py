"""Database round trips and commits per update and per use case, counted (not timed).

`python -m bench.trips [N] [--postgres URL]` runs N citizens through the own-request flow (7 updates each) and
N third-party requests decided by an SMS reply, in one process: the Bot API emulator, the real Application and
a real SQLite file (and then a PostgreSQL database, given an admin URL of a server). It prints trips to the
database per update and commits per use case, from the counters of store.db.Database. Counts do not depend on
the machine's speed, so one run is enough.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path

from bench.pg import fresh_database
from bench.synth import people, write_seed
from bot.app.runner import RunningBot
from bot.config import Settings
from bot.core.broadcast import Audience
from bot.core.seed import read_seed
from bot.gateways.sms_gateway import PrintingSmsGateway
from bot.sandbox.emulator import BotApiEmulator
from bot.services import Services
from store.db import utc_iso

TOKEN = "123456:TRIPS"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


class Codes:
    def __init__(self) -> None:
        self.last: dict[str, str] = {}

    def __call__(self, to: str, text: str) -> None:
        match = CODE.search(text)
        if match:
            self.last[to] = match.group(1)


async def main(n: int, postgres: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        targets = [str(Path(tmp) / "trips.sqlite3")]
        if postgres:
            targets.append(await fresh_database(postgres, "qyzmet_trips_bench"))
        for target in targets:
            await count(n, target)


async def count(n: int, database: str) -> None:
    persons = people(n * 2)
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = Path(tmp) / "seed.json"
        write_seed(seed_path, persons)
        gateway, codes = PrintingSmsGateway(), Codes()
        gateway.listeners.append(codes)
        emu = BotApiEmulator(token=TOKEN)
        await emu.start()
        # The workers' idle polls (a look for due work every few seconds, whatever the load) are pushed out of the
        # run: what is counted is what the updates cause, including the workers they wake.
        quiet = 3600
        services = await Services.open(Settings(database=database, secret_key="k", sweep_interval_seconds=quiet,
                                                telegram_worker_idle_seconds=quiet, broadcast_poll_seconds=quiet,
                                                sms_worker_idle_seconds=quiet, state_worker_idle_seconds=quiet,
                                                telegram_rate=10_000, broadcast_rate=5_000,  # trips, not pace
                                                _env_file=None),  # type: ignore[call-arg]
                                       sms_gateway=gateway)
        await services.load_seed(read_seed(seed_path))
        bot = await RunningBot.start(services, TOKEN, emu.base_url, emu.base_file_url, poll_timeout=1)
        db = services.db
        try:
            async def step(uid: int, send: object) -> None:
                await send  # type: ignore[misc]
                await emu.next_message(uid, timeout=10)
                await emu.wait_idle(uid, quiet=0.05)

            async def press(uid: int, data: str) -> None:
                message = next(m for m in reversed(emu.messages(uid)) if any(
                    d == data for _, d in BotApiEmulator.inline_buttons(m)))
                emu.press_button(uid, message.message_id, data)
                await emu.next_message(uid, timeout=10)
                await emu.wait_idle(uid, quiet=0.05)

            async def identify(p: object, whose: str) -> None:
                uid = p.user_id  # type: ignore[attr-defined]
                emu.add_user(user_id=uid, first_name=f"U{uid}", language_code="ru")
                await step(uid, emu.send_command(uid, "/start"))
                await press(uid, "lang:ru")
                await press(uid, whose)
                await press(uid, f"{whose}:tb_info")
                await step(uid, emu.send_contact(uid, phone_number=p.contact_phone, contact_user_id=uid))  # type: ignore[attr-defined]
                await step(uid, emu.send_text(uid, p.iin))  # type: ignore[attr-defined]
                await step(uid, emu.send_text(uid, codes.last[p.phone]))  # type: ignore[attr-defined]

            trips0, commits0, statements0 = db.trips, db.commits, db.statements
            for p in persons[:n]:
                await identify(p, "own")
            own_updates = 7 * n
            own_trips, own_commits = db.trips - trips0, db.commits - commits0
            own_statements = db.statements - statements0

            subjects = persons[n:]
            for requester in persons[:n]:
                await press(requester.user_id, "other")
                await press(requester.user_id, "other:tb_info")
            trips0, commits0 = db.trips, db.commits
            for requester, subject in zip(persons[:n], subjects, strict=True):
                uid = requester.user_id
                await step(uid, emu.send_text(uid, subject.iin))
            ask_trips, ask_commits = db.trips - trips0, db.commits - commits0

            handler_commits = []
            from handlers.sms_commands import SmsHandler
            handler = SmsHandler(services.sms_inbound, services.sms, services.texts)
            for subject in subjects:
                before = db.commits
                await handler.handle(subject.phone, f"ДА {codes.last[subject.phone]}", f"gw-{subject.phone}")
                handler_commits.append(db.commits - before)
            # A broadcast to every user the flows made and 10·n subscribers more: trips per message (its creation,
            # page reads and progress counts included).
            subscribers = [9_000_000 + i for i in range(10 * n)]
            for uid in subscribers:
                emu.add_user(user_id=uid, first_name=f"S{uid}", language_code="kk")
            async with db.unit("bench/subscribers"):
                for uid in subscribers:
                    await db.write("INSERT INTO users (user_id, lang, created_at) VALUES (?, 'kk', ?)",
                                   (uid, utc_iso(services.clock.now())))
            trips0, commits0, polls = db.trips, db.commits, 0
            broadcast = await services.broadcasts.create("bench", "Хабарлама", "Сообщение", Audience("all"))
            while (await services.broadcasts.get(broadcast.id)).status == "sending":  # type: ignore[union-attr]
                polls += 1
                await asyncio.sleep(0.05)
            # This loop's own reads (one trip each, the last one included) are not the broadcast's.
            broadcast_trips, broadcast_commits = db.trips - trips0 - polls - 1, db.commits - commits0

            print(f"{db.engine}: own-request flow, {n} citizens × 7 updates:")
            print(f"  database round trips per update: {own_trips / own_updates:.2f}")
            print(f"  statements per update: {own_statements / own_updates:.2f} (on SQLite the bounded ones run "
                  "without a round trip)")
            print(f"  commits per update: {own_commits / own_updates:.2f}")
            print(f"third-party request (subject's IIN typed): {ask_trips / n:.1f} trips, "
                  f"{ask_commits / n:.1f} commits per request")
            print(f"consent by SMS reply (decision, result owed, subject's SMS, reply): "
                  f"{sum(handler_commits) / n:.1f} commits per message "
                  f"(+ the immediate sends' settles: see sms/settle)")
            print(f"broadcast to {broadcast.total} recipients: {broadcast_trips / broadcast.total:.2f} trips and "
                  f"{broadcast_commits / broadcast.total:.2f} commits per message (its creation, the page reads and "
                  "the progress counts included)")
        finally:
            await bot.stop()
            await services.close()
            await emu.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.trips", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, nargs="?", default=20, help="citizens (and third-party requests)")
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server: count there too")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.postgres))
