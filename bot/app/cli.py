"""`qyzmet` on the command line: run (or web, worker and migrate at scale), demo, seed, import, backup, operators,
broadcast.

A configuration or start-up problem is one or two lines naming the QYZMET_ variable and what to do, exit
code 2 (bot/config.py ConfigError); never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot import __version__
from bot.app.startup import database_label, open_services
from bot.config import ConfigError, load_settings
from bot.gc_tuning import freeze_startup_heap
from bot.logging_setup import setup_logging


def _run(args: argparse.Namespace) -> int:
    """Everything in one process: updates (polling, or webhook when QYZMET_TELEGRAM_WEBHOOK_URL is set), the
    workers and the HTTP server; migrates the database itself."""
    return _serve("run", receive_updates=True, run_workers=True)


def _web(args: argparse.Namespace) -> int:
    """A stateless web replica: updates by webhook, SMS inbound and receipts, the status feed, the verification
    page, health and metrics; no background loop. N of them behind one URL."""
    return _serve("web", receive_updates=True, run_workers=False)


def _worker(args: argparse.Namespace) -> int:
    """The background loops (outboxes, notices, broadcasts, the sweep) and health and metrics; never asks
    Telegram for updates."""
    return _serve("worker", receive_updates=False, run_workers=True)


def _serve(command: str, receive_updates: bool, run_workers: bool) -> int:
    """Start the bot as ``command`` (bot/app/runner.py) and run it until SIGINT or SIGTERM."""
    settings = load_settings()
    if not settings.telegram_token:
        print("QYZMET_TELEGRAM_TOKEN is not set.\n"
              f"  Set it to the token @BotFather gave you, e.g.  QYZMET_TELEGRAM_TOKEN=123456:ABC... qyzmet {command}\n"
              "  To try the bot without a token or a network, run the demo:  make demo  (or: qyzmet demo)",
              file=sys.stderr)
        return 2
    if command == "web" and not settings.telegram_webhook_url:
        print("QYZMET_TELEGRAM_WEBHOOK_URL is not set: `qyzmet web` takes updates by webhook only.\n"
              "  Set it to the public HTTPS URL of the replicas (and QYZMET_TELEGRAM_WEBHOOK_SECRET), or run "
              "`qyzmet run` for one process that polls.", file=sys.stderr)
        return 2
    from bot.app.http_server import InsecureHttpConfig, check_http_config, is_loopback
    from bot.app.startup import check_files
    if not settings.public_url and not is_loopback(settings.http_host):
        # Certificates, their QR codes and share links name this URL: without it they would carry
        # http://0.0.0.0:8080, which no employer can open.
        print(f"QYZMET_PUBLIC_URL is not set, and QYZMET_HTTP_HOST={settings.http_host!r} is not a loopback "
              "address.\n  Set it to the address people reach the verification page at, e.g. "
              "https://qyzmet.example.kz (certificates, QR codes and share links carry it).", file=sys.stderr)
        return 2
    from bot.gateways.sms_gateway import SmsGateway, gateway_for
    if receive_updates:
        try:
            check_http_config(settings.http_host, settings.sms_secret)  # SMS webhooks: signed, or loopback only
        except InsecureHttpConfig as exc:
            print(exc, file=sys.stderr)
            return 2
    try:
        settings.operator_ids()
    except ValueError as exc:
        print(f"QYZMET_OPERATORS: {exc} (expected comma-separated Telegram user ids)", file=sys.stderr)
        return 2
    if settings.sms_gateway == "smpp":  # Settings checked its host, account and sender
        from bot.gateways.smpp_gateway import smpp_gateway
        gateway: SmsGateway = smpp_gateway(settings)
    else:
        gateway = gateway_for(settings, sys.stdout)  # an SMS printed on stdout, or sent; never lost in silence
    check_files(settings)
    setup_logging(fmt=settings.log_format, secrets=settings.secret_values())
    log = logging.getLogger("qyzmet")
    log.info("database %s", database_label(settings.database))

    async def main() -> None:
        from telegram.error import TelegramError

        from bot.app.runner import RunningBot
        from bot.app.startup import listen_error, wait_for_telegram
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        # `run` (and the demo) migrate the database themselves; replicas leave it to `qyzmet migrate`.
        services = await open_services(settings, gateway, migrate=command == "run")
        try:
            if not await wait_for_telegram(settings, stopping):
                return
            try:
                assert settings.telegram_token  # checked before anything started
                bot = await RunningBot.start(services, settings.telegram_token, settings.telegram_api_url, http=True,
                                             receive_updates=receive_updates, run_workers=run_workers)
            except OSError as exc:
                raise listen_error(settings, exc) from None
            except TelegramError as exc:  # Telegram went away between getMe and the start
                from bot.logging_setup import redact
                raise ConfigError(f"Telegram stopped answering while the bot started: {redact(str(exc))[:200]}",
                                  "  Start it again.") from None
            freeze_startup_heap()
            log.info("bot is running (qyzmet %s: %s); Ctrl+C stops it", command, _shape(bot))
            try:
                await stopping.wait()
            finally:
                await bot.stop()
        finally:
            await services.close()

    with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        runner.run(main())
    return 0


def _shape(bot: Any) -> str:
    """What this process does, for the log line that says it runs."""
    parts = [f"updates by {bot.updates_by}"] if bot.updates_by else ["no updates"]
    parts.append("workers" if bot.workers else "no workers")
    return ", ".join(parts)


def _migrate(args: argparse.Namespace) -> int:
    """Apply the migrations the database lacks, then exit: once per rollout, before the replicas start."""
    setup_logging(logging.WARNING)
    from bot.app.startup import migrate_database
    settings = load_settings()
    database = database_label(settings.database)
    applied = asyncio.run(migrate_database(settings))
    if applied:
        print(f"migrated {database}: applied {', '.join(f'{v:03d}' for v in applied)}")
    else:
        print(f"{database} is up to date: nothing to apply")
    return 0


def _fast_loop_factory():
    """uvloop's event loop when installed (less CPU per Bot API round trip); the standard one otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _seed(args: argparse.Namespace) -> int:
    setup_logging(logging.WARNING)  # command-line tools: problems only, masked like the bot's logs
    from bot.core.seed import SeedError, read_seed
    settings = load_settings()
    database = database_label(settings.database)
    print(f"database {database}", file=sys.stderr)
    try:
        seed = read_seed(Path(args.file))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 1
    except SeedError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        print(f"{args.file}: nothing loaded ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)}; "
              "the format is in the README, section \"Seed format\")", file=sys.stderr)
        return 1

    async def main() -> dict[str, int]:
        services = await open_services(settings)
        total = len(seed.citizens) + len(seed.registry) + len(seed.applications)
        try:
            with _progress(total, "records") as bar:
                return await services.load_seed(seed, bar.update)
        finally:
            await services.close()

    counts = asyncio.run(main())
    print(f"seeded {database}: {counts['citizens']} citizens, {counts['registry']} registry records, "
          f"{counts['applications']} new applications")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_demo
    return asyncio.run(run_demo(database=args.database, script=args.script))


def _operators(args: argparse.Namespace) -> int:
    """Add, remove or list operators; every change is audited with actor "cli"."""
    setup_logging(logging.WARNING)  # command-line tools: problems only, masked like the bot's logs
    from bot.core.staff import ACTOR_CLI, ADMIN, OPERATOR

    async def main() -> int:
        services = await open_services(load_settings())
        try:
            staff = services.staff
            if args.action == "add":
                role = ADMIN if args.admin else OPERATOR
                await staff.add(ACTOR_CLI, args.user_id, role)
                print(f"{args.user_id} is now {role}")
            elif args.action == "remove":
                if not await staff.remove(ACTOR_CLI, args.user_id):
                    print(f"{args.user_id} was not an operator", file=sys.stderr)
                    return 1
                print(f"{args.user_id} removed")
            else:
                members = await staff.members()
                for m in members:
                    print(f"{m.user_id}\t{m.role}\tadded {m.added_at.isoformat()} by {m.added_by}")
                if not members:
                    print("no operators")
            return 0
        finally:
            await services.close()

    return asyncio.run(main())


def _certificates(args: argparse.Namespace) -> int:
    """Withdraw an issued certificate: every later check says "revoked", and its share links open nothing."""
    setup_logging(logging.WARNING)

    async def main() -> int:
        services = await open_services(load_settings())
        try:
            if not await services.certificates.revoke(args.number):
                print(f"{args.number}: no such certificate, or revoked already", file=sys.stderr)
                return 1
            print(f"{args.number} revoked")
            return 0
        finally:
            await services.close()

    return asyncio.run(main())


def _broadcast(args: argparse.Namespace) -> int:
    """Queue a broadcast for the running bot to send: preview (count), then --yes or an interactive y/N."""
    setup_logging(logging.WARNING)  # command-line tools: problems only, masked like the bot's logs
    from bot.core.broadcast import parse_audience
    from bot.core.staff import ACTOR_CLI
    if not (args.kk or "").strip() and not (args.ru or "").strip():
        print("give a text: --kk TEXT and/or --ru TEXT (a missing language gets the other text)", file=sys.stderr)
        return 2
    try:
        audience = parse_audience(args.audience)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def count() -> int:
        services = await open_services(load_settings())
        try:
            return await services.broadcasts.preview(audience)
        finally:
            await services.close()

    recipients = asyncio.run(count())
    print(f"audience {audience.code}: {recipients} recipients")
    print(f"  kk: {args.kk or '(none: the ru text is sent)'}")
    print(f"  ru: {args.ru or '(none: the kk text is sent)'}")
    if recipients == 0:
        print("nobody to send to; nothing queued")
        return 1
    if not args.yes:
        if not sys.stdin or not sys.stdin.isatty():
            print("not confirmed: run with --yes, or in a terminal to answer y/N", file=sys.stderr)
            return 2
        answer = input(f"send to {recipients} recipients? [y/N] ").strip().lower()
        if answer not in ("y", "yes", "д", "да", "и", "иә"):
            print("cancelled; nothing queued")
            return 1

    async def create() -> tuple[int, int]:
        services = await open_services(load_settings())
        try:
            b = await services.broadcasts.create(ACTOR_CLI, args.kk, args.ru, audience)
            return b.id, b.total
        finally:
            await services.close()

    try:
        broadcast_id, total = asyncio.run(create())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"broadcast {broadcast_id} queued for {total} recipients; the running bot (qyzmet run) sends it")
    return 0


def _broadcasts(args: argparse.Namespace) -> int:
    """The latest broadcasts with their ledger counts; ``cancel ID`` stops one (the running bot sees it)."""
    setup_logging(logging.WARNING)
    from bot.core.staff import ACTOR_CLI

    async def main() -> int:
        services = await open_services(load_settings())
        try:
            if args.cancel is not None:
                if await services.broadcasts.cancel(ACTOR_CLI, args.cancel):
                    print(f"broadcast {args.cancel} cancelled: recipients not reached yet are skipped")
                    return 0
                print(f"broadcast {args.cancel} is not being sent (unknown, finished or cancelled)", file=sys.stderr)
                return 1
            for b in await services.broadcasts.recent():
                counts = await services.broadcasts.counts(b.id)
                shown = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
                print(f"{b.id:>5}  {b.status:<9}  {b.created_at:%Y-%m-%d %H:%M}  {b.audience:<28}  "
                      f"{b.total} recipients: {shown or '—'}")
            return 0
        finally:
            await services.close()

    return asyncio.run(main())


def _progress(total: int, unit: str) -> Any:
    """A progress bar on stderr when it is a terminal (a long seed or import); nothing otherwise, so logs and
    CI output stay clean. The summary line is printed at the end either way."""
    from tqdm import tqdm
    return tqdm(total=total, unit=f" {unit}", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def _counted(items: list[str], tick: Callable[[], object]) -> Iterator[str]:
    for item in items:
        yield item
        tick()


def _import(args: argparse.Namespace) -> int:
    """Status feed events from a JSON-lines file; the running bot's workers send the notices it queues."""
    setup_logging(logging.WARNING)  # command-line tools: problems only, masked like the bot's logs
    from bot.core.feed_import import ImportReport, import_events
    settings = load_settings()
    print(f"database {database_label(settings.database)}", file=sys.stderr)
    try:
        lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 1

    async def main() -> ImportReport:
        services = await open_services(settings)
        try:
            with _progress(len(lines), "lines") as bar:
                return await import_events(services.feed, _counted(lines, bar.update))
        finally:
            await services.close()

    report = asyncio.run(main())
    for line, reason in report.errors:
        print(f"line {line}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.rejected else 0


def _backup(args: argparse.Namespace) -> int:
    """A consistent copy of the SQLite database, taken while the bot runs (SQLite's online backup)."""
    from bot.app.backup import BackupError, backup
    settings = load_settings()
    source = database_label(settings.database)
    if settings.uses_postgres():
        print(f"qyzmet backup copies a SQLite database; QYZMET_DATABASE is a PostgreSQL database ({source}).\n"
              f"  Back it up with PostgreSQL's own tools, e.g.  pg_dump --format=custom --file={args.file} "
              "\"$QYZMET_DATABASE\"", file=sys.stderr)
        return 2
    try:
        pages, size = backup(Path(source), Path(args.file), overwrite=args.force)
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return 1
    target = Path(args.file).resolve()
    print(f"backed up {source} to {target}: {pages} pages, {size / 1_048_576:.1f} MB, integrity ok")
    if not settings.secret_key:
        print(f"  keep a copy of {Path(source).parent / 'secret.key'} too (or set QYZMET_SECRET_KEY): "
              "it is not in the database", file=sys.stderr)
    return 0


FORMATS = "Formats and every QYZMET_ variable: README.md of the project."


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="qyzmet", description="Qyzmet: public health services in Telegram and SMS",
                                     epilog="Configuration comes from QYZMET_* environment variables (or .env); "
                                            + FORMATS)
    parser.add_argument("--version", action="version", version=f"qyzmet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot in one process (polling, or a webhook) with QYZMET_TELEGRAM_TOKEN",
                   formatter_class=raw,
                   description="Run the bot in one process: Telegram updates (long polling, or the webhook when\n"
                               "QYZMET_TELEGRAM_WEBHOOK_URL is set), the SMS and notice workers and the HTTP server\n"
                               "(SMS webhooks, status feed, /metrics, /health); it migrates the database itself.",
                   epilog="Needs QYZMET_TELEGRAM_TOKEN, and QYZMET_SMS_GATEWAY_URL (or QYZMET_SMS_GATEWAY=print\n"
                          "to print every SMS on stdout instead of sending it).\n" + FORMATS).set_defaults(func=_run)
    sub.add_parser("web", help="a web replica: Telegram webhook, SMS and feed routes, health; no workers",
                   formatter_class=raw,
                   description="Run one stateless web replica: the Telegram webhook (QYZMET_TELEGRAM_WEBHOOK_URL),\n"
                               "SMS inbound and receipts, the status feed, /verify, /metrics and /health; no\n"
                               "background workers. Run N of them behind one URL, and `qyzmet worker` beside them.",
                   epilog="Needs QYZMET_TELEGRAM_TOKEN, QYZMET_TELEGRAM_WEBHOOK_URL and _SECRET, an SMS gateway\n"
                          "(as `run`), and a database that `qyzmet migrate` brought up to date.\n"
                          + FORMATS).set_defaults(func=_web)
    sub.add_parser("worker", help="the background workers: outboxes, notices, broadcasts, sweeps", formatter_class=raw,
                   description="Run the background loops: the SMS and Telegram outboxes, notices, broadcasts,\n"
                               "the state systems' queues and the sweep; /metrics and /health on QYZMET_HTTP_PORT.\n"
                               "It never asks Telegram for updates (no getUpdates, no setWebhook).",
                   epilog="Needs QYZMET_TELEGRAM_TOKEN, an SMS gateway (as `run`), and a database that\n"
                          "`qyzmet migrate` brought up to date.\n" + FORMATS).set_defaults(func=_worker)
    sub.add_parser("migrate", help="apply the database migrations, then exit (once per rollout)",
                   formatter_class=raw,
                   description="Bring QYZMET_DATABASE's schema up to date and print what was applied; running it\n"
                               "again applies nothing. Refuses a database migrated by a newer version (exit 2).",
                   epilog="A rollout: `qyzmet migrate`, then start (or restart) the web replicas and the workers.\n"
                          + FORMATS).set_defaults(func=_migrate)
    seed = sub.add_parser("seed", help="load citizens, registries and applications from a JSON file",
                          formatter_class=raw,
                          description="Load the citizen directory, the registries and applications from FILE.json\n"
                                      "into QYZMET_DATABASE, all or nothing; running it twice changes nothing.",
                          epilog='FILE.json: {"citizens": [{"iin", "full_name", "birth_date", "address", "phone"}],\n'
                                 '            "registry": [{"iin", "register": "tb|psychiatry|narcology", "observed", '
                                 '"source_system"}],\n'
                                 '            "applications": [{"number", "iin", "service", "submitted_at", "status",\n'
                                 '                              "events": [{"status", "at", "note"}]}]}\n'
                                 "Problems are printed as lines like  citizens[1].iin: not a valid IIN (checksum).\n"
                                 "See the README, section \"Seed format\".")
    seed.add_argument("file", help="the seed, a JSON file")
    seed.set_defaults(func=_seed)
    imp = sub.add_parser("import", help="apply status feed events from a JSON-lines file", formatter_class=raw,
                         description="Apply status feed events (a JSON-lines file: one JSON object per line) as the\n"
                                     "status feed API would; prints per-line errors and a summary (exit code 1 if a\n"
                                     "line was rejected).",
                         epilog='each line: {"number", "iin", "service",\n'
                                '            "status": "accepted|in_progress|result_ready|refused",\n'
                                '            "at": "ISO 8601 with its offset", "note"}\n'
                                "See the README, section \"The status feed\".")
    imp.add_argument("file", help="the events, a JSON-lines file")
    imp.set_defaults(func=_import)
    bak = sub.add_parser("backup", help="copy the database safely while the bot runs", formatter_class=raw,
                         description="Copy QYZMET_DATABASE to FILE with SQLite's online backup (consistent while\n"
                                     "the bot writes), then check the copy. A PostgreSQL database: use pg_dump.",
                         epilog="Restore: stop the bot, copy FILE over QYZMET_DATABASE (and delete its -wal and\n"
                                "-shm files), start the bot. See the README, section \"Backups\".")
    bak.add_argument("file", help="where to write the copy (a new file)")
    bak.add_argument("--force", action="store_true", help="replace FILE if it exists")
    bak.set_defaults(func=_backup)
    demo = sub.add_parser("demo", help="talk to the bot in this terminal: no token, no network")
    demo.add_argument("--database", default=None, help="SQLite file (default: a fresh one under ./var/demo)")
    demo.add_argument("--script", default=None, help="read the terminal lines from this file instead of the keyboard")
    demo.set_defaults(func=_demo)
    ops = sub.add_parser("operators", help="add, remove or list operators (audited)")
    ops_sub = ops.add_subparsers(dest="action", required=True)
    add = ops_sub.add_parser("add", help="make a Telegram user an operator (or admin)")
    add.add_argument("user_id", type=int)
    add.add_argument("--admin", action="store_true", help="the admin role instead of operator")
    remove = ops_sub.add_parser("remove", help="take the role away")
    remove.add_argument("user_id", type=int)
    ops_sub.add_parser("list", help="who has a role")
    ops.set_defaults(func=_operators)
    certs = sub.add_parser("certificates", help="revoke an issued certificate (checks then say so)")
    certs_sub = certs.add_subparsers(dest="action", required=True)
    revoke = certs_sub.add_parser("revoke", help="withdraw certificate NUMBER")
    revoke.add_argument("number")
    certs.set_defaults(func=_certificates)
    bc = sub.add_parser("broadcast", help="queue a message to subscribers (sent by the running bot)")
    bc.add_argument("--kk", default=None, help="the Kazakh text")
    bc.add_argument("--ru", default=None, help="the Russian text")
    bc.add_argument("--audience", default="all", help="all | lang:kk | lang:ru | service:<code>")
    bc.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    bc.set_defaults(func=_broadcast)
    bcs = sub.add_parser("broadcasts", help="the latest broadcasts and their delivery counts; --cancel ID stops one")
    bcs.add_argument("--cancel", type=int, default=None, metavar="ID", help="stop broadcast ID")
    bcs.set_defaults(func=_broadcasts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:  # one or two lines naming the variable; nothing secret in them
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
