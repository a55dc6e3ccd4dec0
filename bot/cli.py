"""`qyzmet` on the command line: run, demo, seed."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from bot.config import Settings
from bot.logging_setup import setup_logging


def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    if not settings.telegram_token:
        print("QYZMET_TELEGRAM_TOKEN is not set.\n"
              "  Set it to the token @BotFather gave you, e.g.  QYZMET_TELEGRAM_TOKEN=123456:ABC... qyzmet run\n"
              "  To try the bot without a token or a network, run the demo:  make demo  (or: qyzmet demo)",
              file=sys.stderr)
        return 2
    from bot.http_server import InsecureHttpConfig, check_http_config
    try:
        check_http_config(settings.http_host, settings.sms_secret)  # SMS webhooks: signed, or loopback only
    except InsecureHttpConfig as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging()

    async def main() -> None:
        from bot.runner import RunningBot, run_until_signal
        from bot.services import Services
        services = await Services.open(settings)
        try:
            bot = await RunningBot.start(services, settings.telegram_token, settings.telegram_api_url, http=True)
            logging.getLogger("qyzmet").info("bot is running; Ctrl+C stops it")
            await run_until_signal(bot)
        finally:
            await services.close()

    with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        runner.run(main())
    return 0


def _fast_loop_factory():  # noqa: ANN202
    """uvloop's event loop when installed (less CPU per Bot API round trip); the standard one otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _seed(args: argparse.Namespace) -> int:
    from bot.core.seed import load_seed, read_seed
    from bot.services import Services
    settings = Settings()
    try:
        seed = read_seed(Path(args.file))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 1

    async def main() -> dict[str, int]:
        services = await Services.open(settings)
        try:
            return await load_seed(seed, services.citizens, services.apps, services.calendar)
        finally:
            await services.close()

    counts = asyncio.run(main())
    print(f"seeded {settings.database}: {counts['citizens']} citizens, {counts['registry']} registry records, "
          f"{counts['applications']} new applications")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_demo
    return asyncio.run(run_demo(database=args.database, script=args.script))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qyzmet", description="Qyzmet: public health services in Telegram and SMS")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (polling) with QYZMET_TELEGRAM_TOKEN").set_defaults(func=_run)
    seed = sub.add_parser("seed", help="load citizens, registries and applications from a JSON file")
    seed.add_argument("file")
    seed.set_defaults(func=_seed)
    demo = sub.add_parser("demo", help="talk to the bot in this terminal: no token, no network")
    demo.add_argument("--database", default=None, help="SQLite file (default: a fresh one under ./var/demo)")
    demo.add_argument("--script", default=None, help="read the terminal lines from this file instead of the keyboard")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
