"""`qyzmet demo`: talk to the real bot in this terminal, with no token and no network.

What it is for: a newcomer (or a reviewer) sees the whole service work in a minute. The real
python-telegram-bot ``Application`` runs on the project's embedded defaults (a fresh SQLite file, the
printing SMS gateway, the built-in demo population of ``demo_seed.json``) and talks over HTTP on 127.0.0.1
to the local Bot API emulator; the person at the terminal plays Telegram user 1001 (whose own phone is the
first demo citizen's) and can switch to other users. Every bot message and every SMS is printed as it
happens; the SMS are the demo outbox, printed in full, codes included, so a code can be typed back.

Lines come from the keyboard, or from a ``--script`` file (one command per line, ``#`` comments), which
makes a reproducible transcript (the tests use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from telegram import Update

from bot.app.runner import RunningBot
from bot.config import Settings
from bot.core.seed import Seed, read_seed
from bot.domain.phone import InvalidPhone, normalize_phone
from bot.gateways.sms_gateway import PrintingSmsGateway
from bot.logging_setup import MaskingFormatter
from bot.sandbox.emulator import BotApiEmulator, SentMessage
from bot.services import Services

DEMO_TOKEN = "000000:DEMO"
DEMO_SECRET_KEY = "qyzmet-demo-secret-key-not-for-production"
DEMO_USER_ID = 1001
DEMO_OPERATOR_ID = 9001  # `:as 9001`: an operator of the contact centre (the console, broadcasts)
DEMO_FEED_TOKEN = "demo-feed-token"
SEED_PATH = Path(__file__).with_name("demo_seed.json")
ANSWER_TIMEOUT = 5.0  # seconds to wait for the bot to finish answering one line
QUIET = 0.3  # seconds without a new bot message that count as "the bot has answered"
MAX_BUTTON_NUMBER = 99  # a shorter number is a button press; a longer one (IIN, code) is text

_CODE_TEMPLATE = re.compile(r"\{code:([^}]*)\}")
_SMS_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")

HELP = """\
Командалар / Команды:
  мәтін / текст           → ботқа / боту  (/start, /status, /help …)
  1, 2, …                 → батырма / кнопка  (соңғы хабардың / последнего сообщения с кнопками)
  :contact                → өз нөміріңіз / поделиться своим номером
  :contact +77051112233   → бөтен нөмір / чужой номер  (бот бас тартады / бот откажет)
  :photo                  → фото
  :as 1002                → басқа пайдаланушы / другой пользователь Telegram  (:as 2002 +7705… — с номером)
  :sms                    → барлық SMS / все SMS
  :smsfrom +7705… ДА 123456 → SMS жауап / ответить по SMS с этого номера
  :feed QZ-… in_progress  → көрсетілетін қызметті берушінің жүйесінен мәртебе / статус из системы услугодателя
                            (accepted | in_progress | result_ready | refused [ескертпе / примечание])
  :as 9001                → оператор (/op, /broadcast)
  {code:+77011234567}     → соңғы SMS-код / последний код из SMS на этот номер
  :btn PDF                → мәтіні бойынша батырма / кнопка по тексту  (PDF файлы ./var/demo/documents/ ішінде)
  :text 1   :help   :quit (Ctrl+D)"""


class _Output:
    closed = False  # stdout went away (`qyzmet demo | head`): the demo ends quietly
    prompt: str | None = None  # the prompt now waiting for a line at the keyboard, if any


def say(text: str = "", end: str = "\n") -> None:
    """Print one block of the transcript at once (bot messages arrive while the prompt waits)."""
    if _Output.closed:
        return
    _write(text, end)


def say_meanwhile(text: str) -> None:
    """Print a block that arrived by itself (a broadcast, a notice, an SMS): when the prompt is waiting at the
    keyboard, the block goes on a line of its own below it and the prompt is shown again after it, so that what
    the person types next still follows a prompt."""
    if _Output.closed:
        return
    if _Output.prompt is None:
        _write(text, "\n")
    else:
        _write("\n" + text, "\n")
        _write(_Output.prompt, "")


def _write(text: str, end: str) -> None:
    try:
        print(text, end=end, flush=True)
    except BrokenPipeError:
        _Output.closed = True
        with contextlib.suppress(OSError, ValueError):  # so that Python's exit-time flush fails silently too
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- the demo population ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCitizen:
    iin: str
    full_name: str
    phone: str | None


def demo_citizens(seed: Seed) -> list[DemoCitizen]:
    return [DemoCitizen(c.iin, c.full_name, c.phone) for c in seed.citizens]


def default_phones(citizens: list[DemoCitizen]) -> dict[int, DemoCitizen]:
    """Telegram users 1001, 1002, … own the phones of the demo citizens that have one, in seed order."""
    with_phone = [c for c in citizens if c.phone]
    return {DEMO_USER_ID + i: c for i, c in enumerate(with_phone)}


def banner(citizens: list[DemoCitizen], database: Path, log_file: Path) -> str:
    owners = {c.iin: user_id for user_id, c in default_phones(citizens).items()}
    rows = []
    for c in citizens:
        user = str(owners[c.iin]) if c.iin in owners else "—"
        you = "  ← сіз / вы" if owners.get(c.iin) == DEMO_USER_ID else ""
        rows.append(f"  {user:<5} {c.iin}  {c.phone or '—':<13} {c.full_name}{you}")
    first = citizens[0]
    return "\n".join([
        "Qyzmet — демо: токенсіз, желісіз / демо: без токена и без сети.",
        f"Сіз — Telegram пайдаланушысы {DEMO_USER_ID}, телефоныңыз {first.phone} ({first.full_name}).",
        f"Вы — пользователь Telegram {DEMO_USER_ID}, ваш телефон {first.phone} (первый гражданин).",
        "",
        "Демо азаматтар / Демо-граждане:",
        "  user  ЖСН/ИИН        телефон       аты-жөні / ФИО",
        *rows,
        "",
        HELP,
        "",
        f"SQLite: {database}   log: {log_file}",
        f"(var/demo: соңғы {KEEP_RUNS} іске қосу сақталады / хранятся последние {KEEP_RUNS} запуска)",
        "Бастау үшін / Чтобы начать: /start",
    ])


# --- printing what the bot does ------------------------------------------------------------------


def format_buttons(msg: SentMessage) -> list[str]:
    """Inline buttons numbered row by row (what `1`, `2`, … press), reply keyboards with a hint."""
    lines: list[str] = []
    markup = msg.reply_markup or {}
    number = 0
    for row in markup.get("inline_keyboard") or []:
        cells = []
        for button in row:
            number += 1
            cells.append(f"[{number}] {button.get('text', '')}")
        lines.append("  ".join(cells))
    if markup.get("keyboard"):
        cells = []
        for button in BotApiEmulator.reply_buttons(msg):
            hint = " ← :contact" if button["request_contact"] else ""
            cells.append(f"⌨ [{button['text']}]{hint}")
        lines.append("   ".join(cells))
    return lines


INDENT = "   "


def terminal_width() -> int | None:
    """The width to wrap the transcript to: the terminal's, when the transcript goes to one (a script's output,
    read by programs, is never wrapped)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((100, 24)).columns


def indented(lines: list[str], width: int | None) -> list[str]:
    """Each line under the message's head, indented; wrapped between words to ``width`` (a narrow terminal
    would otherwise cut a word in two and lose the indent on the part that wraps)."""
    if width is None or width <= len(INDENT) + 20:
        return [INDENT + line for line in lines]
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, width - 1, initial_indent=INDENT, subsequent_indent=INDENT,
                                 break_long_words=False, break_on_hyphens=False) or [INDENT])
    return out


def format_bot_message(msg: SentMessage, current_user: int, width: int | None = None) -> str:
    to = "" if msg.chat_id == current_user else f" → {msg.chat_id}"
    if msg.kind == "delete":
        return f"🗑 Бот{to}: хабар #{msg.message_id} өшірілді / сообщение удалено"
    head = f"✏️ Бот{to} (#{msg.message_id} өзгертті / изменил):" if msg.kind == "edit" else f"🤖 Бот{to}:"
    if msg.protect_content:
        head += "  🔒 қорғалған / защищено от пересылки"
    body: list[str] = []
    if msg.document:
        body.append(f"📎 {msg.document.get('file_name') or 'файл'}")
    if msg.photo:
        body.append("🖼 фото")
    text = msg.plain_text if msg.plain_text is not None else msg.text
    if text:
        body.extend(text.splitlines() or [""])
    body.extend(format_buttons(msg))
    return "\n".join([head, *indented(body, width), ""])


# --- reading lines ---------------------------------------------------------------------------------


class LineSource:
    """Lines to act on, from a script file or from stdin; ``None`` means the end (EOF, Ctrl+C)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.interrupted = False

    @classmethod
    def from_script(cls, path: Path) -> LineSource:
        source = cls()
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                source._queue.put_nowait(line.strip())
        source._queue.put_nowait(None)
        return source

    @classmethod
    def from_stdin(cls) -> LineSource:
        """A daemon thread reads stdin, so the event loop never blocks and exit never waits for a key."""
        source = cls()
        loop = asyncio.get_running_loop()

        stream = sys.stdin
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]

        def read() -> None:
            with contextlib.suppress(RuntimeError):  # the demo has ended and its loop is closed
                while stream is not None:
                    try:
                        line = stream.readline()
                    except (OSError, ValueError):  # stdin closed
                        break
                    if not line:
                        break
                    loop.call_soon_threadsafe(source._queue.put_nowait, line.strip())
                loop.call_soon_threadsafe(source._queue.put_nowait, None)

        threading.Thread(target=read, name="demo-stdin", daemon=True).start()
        return source

    def interrupt(self) -> None:
        self.interrupted = True
        self._queue.put_nowait(None)

    async def next(self) -> str | None:
        return None if self.interrupted else await self._queue.get()


# --- the session -----------------------------------------------------------------------------------


@dataclass
class DemoSession:
    """The emulator, the services and the bot, plus who is typing and what arrived by SMS."""

    database: Path
    seed: Seed
    emu: BotApiEmulator = field(default_factory=lambda: BotApiEmulator(token=DEMO_TOKEN, host="127.0.0.1"))
    gateway: PrintingSmsGateway = field(default_factory=PrintingSmsGateway)
    services: Services | None = None
    bot: RunningBot | None = None
    user_id: int = DEMO_USER_ID
    own_phones: dict[int, str] = field(default_factory=dict)
    sms: list[tuple[str, str]] = field(default_factory=list)
    users: set[int] = field(default_factory=set)
    _done: dict[int, asyncio.Event] = field(default_factory=dict, init=False, repr=False)
    _last_bot_action: float = field(default=0.0, init=False, repr=False)

    async def start(self) -> None:
        for user_id, citizen in default_phones(demo_citizens(self.seed)).items():
            self.own_phones[user_id] = citizen.phone or ""
        self.gateway.listeners.append(self._on_sms)
        self.emu.subscribe(self._on_bot_message)
        await self.emu.start()
        self.emu.add_user(DEMO_USER_ID, f"User{DEMO_USER_ID}")
        self.users.add(DEMO_USER_ID)
        settings = Settings(database=str(self.database), secret_key=DEMO_SECRET_KEY, feed_token=DEMO_FEED_TOKEN,
                            operators=str(DEMO_OPERATOR_ID), sms_gateway="print",
                            _env_file=None)  # type: ignore[call-arg]  # pydantic-settings' own keyword
        self.services = await Services.open(settings, sms_gateway=self.gateway)
        await self.services.load_seed(self.seed)
        self.bot = await RunningBot.start(self.services, DEMO_TOKEN, self.emu.base_url, self.emu.base_file_url,
                                          poll_timeout=1, http=True, http_port=0)
        # The demo knows when the bot has answered a line (its replies delivered).
        self.bot.application.update_processor.answered.append(self._mark_done)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None
        if self.services is not None:
            await self.services.close()
            self.services = None
        await self.emu.stop()

    # What happens, printed as it happens.

    def _on_bot_message(self, msg: SentMessage) -> None:
        self._last_bot_action = asyncio.get_running_loop().time()
        say_meanwhile(format_bot_message(msg, self.user_id, terminal_width()))
        if msg.document:
            self._save_document(msg.document)

    def _save_document(self, document: dict) -> None:
        """A document the bot sent (the signed certificate PDF) is saved beside the database, and its path
        printed: open it in any PDF reader, which shows the signature."""
        data = self.emu.file_data(str(document.get("file_id", "")))
        if data is None:
            return
        name = Path(str(document.get("file_name") or "document.pdf")).name
        path = self.database.parent / "documents" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        say_meanwhile(f"   💾 {path.resolve()}\n")

    def _on_sms(self, to_phone: str, text: str) -> None:
        self._last_bot_action = asyncio.get_running_loop().time()
        self.sms.append((to_phone, text))
        say_meanwhile(f"📨 SMS → {to_phone}: {text}\n")

    def _mark_done(self, update: object) -> None:
        if isinstance(update, Update):
            self._done.setdefault(update.update_id, asyncio.Event()).set()

    async def answered(self, update_id: int) -> None:
        """Wait until the bot has handled the update, then until it has been quiet for a moment."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._done.setdefault(update_id, asyncio.Event()).wait(), ANSWER_TIMEOUT)
        while loop.time() < deadline:
            quiet_for = loop.time() - self._last_bot_action
            if quiet_for >= QUIET:
                break
            await asyncio.sleep(QUIET - quiet_for)

    # The commands of the terminal.

    async def handle(self, line: str) -> bool:
        """Act on one line; False when the person wants to leave."""
        command, _, arg = line.partition(" ")
        arg = arg.strip()
        if command in (":quit", ":q", ":exit"):
            return False
        if command == ":help":
            say(HELP + "\n")
        elif command == ":sms":
            self.show_sms()
        elif command == ":smsfrom":
            await self.sms_from(arg)
        elif command == ":feed":
            await self.feed(arg)
        elif command == ":as":
            self.switch_user(arg)
        elif command == ":contact":
            await self.share_contact(arg)
        elif command == ":photo":
            await self.answered(await self.emu.send_photo(self.user_id))
        elif command == ":text":
            await self.send_text(arg)
        elif command == ":btn":
            await self.press_label(arg)
        elif command.startswith(":"):
            say(f"⚠ Белгісіз команда / неизвестная команда: {command}  (:help)\n")
        elif line.isascii() and line.isdigit() and int(line) <= MAX_BUTTON_NUMBER:
            await self.press(int(line))
        else:
            await self.send_text(line)
        return True

    async def sms_from(self, arg: str) -> None:
        """Reply by SMS as a phone: the message goes through the bot's real inbound webhook (/sms/inbound)."""
        phone, _, text = arg.partition(" ")
        if not phone or not text.strip():
            say("⚠ :smsfrom +77051112233 ДА 123456\n")
            return
        assert self.bot is not None and self.bot.http_port
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"http://127.0.0.1:{self.bot.http_port}/sms/inbound",
                                         json={"from": phone, "text": text.strip()})
        if response.status_code != 200:
            say(f"⚠ /sms/inbound → HTTP {response.status_code}\n")
        # The reply SMS and any push to the requester's chat follow; give them a moment to print.
        await asyncio.sleep(0.8)

    async def feed(self, arg: str) -> None:
        """A provider's system reports a stage: the event goes through the bot's real status feed API."""
        number, _, rest = arg.partition(" ")
        status, _, note = rest.strip().partition(" ")
        assert self.bot is not None and self.bot.http_port and self.services is not None
        app = await self.services.feed.application(number.strip().upper()) if number else None
        if app is None or not status:
            say("⚠ :feed QZ-261120-0000101 result_ready   (:feed НӨМІР/НОМЕР СТАТУС [ескертпе/примечание])\n")
            return
        event = {"number": app.number, "iin": app.iin, "service": app.service, "status": status,
                 "at": self.services.clock.now().isoformat(), "note": note.strip() or None}
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"http://127.0.0.1:{self.bot.http_port}/api/v1/applications/events",
                                         json=event, headers={"Authorization": f"Bearer {DEMO_FEED_TOKEN}"})
        say(f"↪ /api/v1/applications/events → HTTP {response.status_code} {response.text.strip()}\n")
        await asyncio.sleep(0.8)  # the notice to the applicant follows; give it a moment to print

    async def send_text(self, text: str) -> None:
        if not text:
            return
        if text.startswith("/"):
            await self.answered(await self.emu.send_command(self.user_id, text))
        else:
            await self.answered(await self.emu.send_text(self.user_id, text))

    async def press(self, number: int) -> None:
        for msg in reversed(self.emu.messages(self.user_id)):
            buttons = BotApiEmulator.inline_buttons(msg)
            if not buttons:
                continue
            if not 1 <= number <= len(buttons):
                say(f"⚠ [{number}] батырмасы жоқ / нет кнопки [{number}]: 1…{len(buttons)}"
                    f"  (мәтін ретінде / как текст: :text {number})\n")
                return
            text, data = buttons[number - 1]
            say(f"👆 [{number}] {text}")
            update_id, _ = self.emu.press_button(self.user_id, msg.message_id, data)  # the update_id, to wait on
            await self.answered(update_id)
            return
        say(f"⚠ Батырмасы бар хабар жоқ / нет сообщения с кнопками  (как текст: :text {number})\n")

    async def press_label(self, label: str) -> None:
        """Press the newest button whose text contains ``label`` (e.g. «PDF» under a certificate that the main
        menu has pushed up since)."""
        wanted = label.strip().casefold()
        for msg in reversed(self.emu.messages(self.user_id)):
            for text, data in BotApiEmulator.inline_buttons(msg):
                if wanted and wanted in text.casefold():
                    say(f"👆 {text}")
                    update_id, _ = self.emu.press_button(self.user_id, msg.message_id, data)
                    await self.answered(update_id)
                    return
        say(f"⚠ «{label}» батырмасы жоқ / нет кнопки «{label}»\n")

    async def share_contact(self, phone: str) -> None:
        if phone:  # a contact card from the address book: someone else's number
            say(f"👤 {self.user_id}: бөтен контакт / чужой контакт {phone}")
            update_id = await self.emu.send_contact(self.user_id, phone_number=phone, contact_user_id=None,
                                                    first_name="Контакт")
            await self.answered(update_id)
            return
        own = self.own_phones.get(self.user_id)
        if not own:
            say(f"⚠ {self.user_id} пайдаланушысының нөмірі жоқ / у пользователя {self.user_id} нет своего номера: "
                f":as {self.user_id} +77…\n")
            return
        say(f"👤 {self.user_id}: өз нөмірі / свой номер {own}")
        # Telegram gives the sender's own number without the "+", as a request_contact button does.
        await self.answered(await self.emu.send_contact(self.user_id, phone_number=own.lstrip("+")))

    def switch_user(self, arg: str) -> None:
        parts = arg.split()
        if not parts or not parts[0].isdigit():
            say(f"Қазір / Сейчас: {self.user_id}. Мысалы / Например: :as 1002   :as 2002 +77051112233\n")
            return
        user_id = int(parts[0])
        if len(parts) > 1:
            try:
                self.own_phones[user_id] = normalize_phone(parts[1])
            except InvalidPhone:
                say(f"⚠ Телефон емес / не номер телефона: {parts[1]}\n")
                return
        if user_id not in self.users:
            self.emu.add_user(user_id, f"User{user_id}")
            self.users.add(user_id)
        self.user_id = user_id
        phone = self.own_phones.get(user_id) or "—"
        say(f"🔁 Енді сіз / Теперь вы: {user_id} (телефон {phone})\n")

    def show_sms(self) -> None:
        if not self.sms:
            say("📭 SMS жоқ / SMS нет\n")
            return
        say("\n".join(f"{i}. 📨 → {to}: {text}" for i, (to, text) in enumerate(self.sms, 1)) + "\n")

    def last_code(self, phone: str) -> str | None:
        """The last 6-digit code sent by SMS to ``phone`` (any spelling of the number)."""
        with contextlib.suppress(InvalidPhone):
            phone = normalize_phone(phone)
        for to, text in reversed(self.sms):
            found = _SMS_CODE.search(text)
            if to == phone and found:
                return found.group(1)
        return None

    async def expand_codes(self, line: str) -> str | None:
        """Replace each {code:PHONE} with the last code sent to PHONE; None (and a warning) if there is none.

        An SMS the outbox worker sends a moment later is waited for, up to ANSWER_TIMEOUT / 2."""
        phones = [m.group(1).strip() for m in _CODE_TEMPLATE.finditer(line)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT / 2
        while any(self.last_code(p) is None for p in phones) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        missing = [p for p in phones if self.last_code(p) is None]
        if missing:
            say(f"⚠ Бұл нөмірге кодпен SMS келмеген / нет SMS с кодом на {', '.join(missing)}\n")
            return None
        return _CODE_TEMPLATE.sub(lambda m: self.last_code(m.group(1).strip()) or "", line)


# --- running it ------------------------------------------------------------------------------------


KEEP_RUNS = 3  # the demo's own runs kept under var/demo (their databases and logs); older ones are removed


def default_database() -> Path:
    folder = Path("var") / "demo"
    forget_old_runs(folder, KEEP_RUNS - 1)  # this run is the one more
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"demo-{stamp}.sqlite3"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"demo-{stamp}-{n}.sqlite3"
    return path


def forget_old_runs(folder: Path, keep: int) -> list[Path]:
    """Remove the files of all but the ``keep`` newest demo runs in ``folder`` (each run is a
    ``demo-<time>.sqlite3`` with its WAL, shared-memory and log files); returns what was removed. Only the demo's
    own names are touched: a database given with ``--database`` is never removed."""
    runs = sorted(folder.glob("demo-*.sqlite3"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    removed: list[Path] = []
    for database in runs[max(keep, 0):]:
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), database.with_suffix(".log")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def logs_to(path: Path):
    """The bot's logs go to a file, so the terminal shows only the conversation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    noisy = [logging.getLogger(name) for name in ("httpx", "apscheduler")]
    saved = root.handlers[:], root.level, [logger.level for logger in noisy]
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for logger in noisy:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for logger, level in zip(noisy, saved[2], strict=False):
            logger.setLevel(level)
        handler.close()


@contextlib.contextmanager
def ctrl_c_ends(source: LineSource):
    """Ctrl+C ends the demo like :quit, without a traceback."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, source.interrupt)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not on this platform or thread
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


async def converse(session: DemoSession, source: LineSource, echo: bool) -> None:
    """The read–act loop: one line at a time, each answered before the next is read."""
    while not _Output.closed:
        if not echo:
            _Output.prompt = f"{session.user_id}> "
            say(_Output.prompt, end="")
        line = await source.next()
        _Output.prompt = None
        if line is None:
            if not echo:
                say()
            return
        if not line or line.startswith("#"):
            continue
        if echo:
            say(f"{session.user_id}> {line}")
        expanded = await session.expand_codes(line)
        if expanded is None:
            continue
        if expanded != line:
            say(f"   → {expanded}")
        if not await session.handle(expanded):
            return


async def run_demo(database: str | None = None, script: str | None = None) -> int:
    """Run the terminal demo until :quit, EOF or Ctrl+C; returns the process exit code."""
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    db_path = Path(database) if database else default_database()
    log_path = db_path.with_suffix(".log")
    try:
        seed = read_seed(SEED_PATH)
        source = LineSource.from_script(Path(script)) if script else LineSource.from_stdin()
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"qyzmet demo: {exc}", file=sys.stderr)
        return 1
    session = DemoSession(db_path, seed)
    echo = script is not None or not (sys.stdin is not None and sys.stdin.isatty())
    with logs_to(log_path), ctrl_c_ends(source):
        try:
            await session.start()
        except Exception as exc:  # e.g. an unwritable database path: say so plainly
            print(f"qyzmet demo: could not start: {type(exc).__name__}: {exc} (log: {log_path})", file=sys.stderr)
            logging.getLogger(__name__).exception("demo start failed")
            await session.stop()
            return 1
        say(banner(demo_citizens(seed), db_path, log_path) + "\n")
        try:
            await converse(session, source, echo)
        finally:
            await session.stop()
    say("Сау болыңыз! / До свидания!")
    return 0
