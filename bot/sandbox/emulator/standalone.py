"""``python -m bot.sandbox.emulator``: the emulator as a server of its own.

Why: benchmarks run the bot and the load generator as separate processes, so the emulator
has to be one too; the load generator drives it through the control API (``control``).
"""

from __future__ import annotations

import argparse
import asyncio

from bot.gc_tuning import freeze_survivors

from .assembly import BotApiEmulator


def main(argv: list[str] | None = None) -> None:
    """Run the emulator as a standalone server (for benchmarks in another process)."""
    parser = argparse.ArgumentParser(description="Local Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--global-rate", type=float, default=None, help="messages/s across all chats")
    parser.add_argument("--per-chat-rate", type=float, default=None, help="messages/s per chat")
    parser.add_argument("--burst-seconds", type=float, default=1.0,
                        help="each rate allows a burst of this many seconds' worth of messages (at least 1)")
    parser.add_argument("--per-chat-burst-seconds", type=float, default=None,
                        help="the same for the per-chat rate (default: --burst-seconds); a benchmark compressing "
                             "time k-fold passes 1/k to keep a burst of one message per chat")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each send")
    parser.add_argument("--webhook-retry-seconds", type=float, default=1.0,
                        help="pause before a webhook update that was not acknowledged is posted again")
    args = parser.parse_args(argv)

    async def serve() -> None:
        emu = BotApiEmulator(args.token, args.host, args.port, global_rate=args.global_rate,
                             per_chat_rate=args.per_chat_rate, latency=args.latency,
                             burst_seconds=args.burst_seconds, per_chat_burst_seconds=args.per_chat_burst_seconds,
                             webhook_retry_seconds=args.webhook_retry_seconds)
        await emu.start()
        freeze_survivors()
        print(f"Bot API emulator: base_url={emu.base_url} token={emu.token} "
              f"control=http://{emu.host}:{emu.port}/_emu/", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
