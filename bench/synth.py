"""Synthetic citizens: valid IINs (checksum of bot.domain.iin) and distinct Kazakh mobiles +7701xxxxxxx."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.iin import check_digit


@dataclass(frozen=True)
class Person:
    index: int
    iin: str
    phone: str  # E.164
    user_id: int  # the Telegram user id that plays this citizen

    @property
    def contact_phone(self) -> str:
        return self.phone.lstrip("+")  # Telegram contacts come without "+"

    @property
    def full_name(self) -> str:
        """The name the seed gives this citizen (and the certificate must show)."""
        return f"Тестов{self.index} Бенч Бенчұлы"

    @property
    def tb_observed(self) -> bool:
        """What the seed's TB registry says of this citizen (and the certificate must say)."""
        return self.index % 3 == 0


def people(count: int, first_user_id: int = 1_000_001) -> list[Person]:
    out: list[Person] = []
    seen: set[str] = set()
    n = 0
    while len(out) < count:
        iin = make_iin_unique(n, seen)
        seen.add(iin)
        out.append(Person(len(out), iin, f"+7701{len(out):07d}", first_user_id + len(out)))
        n += 1
    return out


def make_iin_unique(n: int, seen: set[str]) -> str:
    """Distinct valid IINs: walk serials and dates until the checksum exists and the IIN is new."""
    k = n
    while True:
        year = 60 + (k // (28 * 12 * 2 * 10000)) % 40
        rest = k % (28 * 12 * 2 * 10000)
        serial = rest % 10000
        rest //= 10000
        sex = 3 + rest % 2
        rest //= 2
        month = 1 + rest % 12
        day = 1 + (rest // 12) % 28
        prefix = f"{year:02d}{month:02d}{day:02d}{sex}{serial:04d}"
        digit = check_digit(prefix)
        if digit is not None:
            iin = prefix + str(digit)
            if iin not in seen:
                return iin
        k += 7919  # a prime step: lands on another serial and date


def write_seed(path: Path, persons: list[Person]) -> None:
    """The `qyzmet seed` format: citizens with phones and one TB registry record each."""
    seed = {
        "citizens": [
            {"iin": p.iin, "full_name": p.full_name, "birth_date": "1985-01-01",
             "address": f"Алматы қ., Бенч к., {p.index}", "phone": p.phone}
            for p in persons
        ],
        "registry": [
            {"iin": p.iin, "register": "tb", "observed": p.tb_observed, "source_system": "Фтизиатрия"}
            for p in persons
        ],
    }
    path.write_text(json.dumps(seed, ensure_ascii=False), encoding="utf-8")


# Users that only exist as rows (subscribers) and conversations stuck mid-flow, for the memory figure.
IDLE_USER_BASE = 50_000_001
MID_FLOW_STATE = "id_contact"


def add_idle_users(database: Path, users: int, in_progress: int) -> list[int]:
    """Insert `users` users rows and `in_progress` chat_states rows (waiting for a contact) in one transaction.

    Returns the user ids with a conversation in progress.
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    conn = sqlite3.connect(database)
    try:
        with conn:
            conn.executemany(
                "INSERT OR IGNORE INTO users (user_id, lang, subscribed, created_at) VALUES (?, ?, 1, ?)",
                ((IDLE_USER_BASE + i, "ru" if i % 2 else "kk", now) for i in range(users)),
            )
            data = json.dumps({"then": {"action": "own", "service": "tb_info"}})
            conn.executemany(
                "INSERT OR REPLACE INTO chat_states (user_id, state, data, updated_at) VALUES (?, ?, ?, ?)",
                ((IDLE_USER_BASE + i, MID_FLOW_STATE, data, now) for i in range(in_progress)),
            )
    finally:
        conn.close()
    return [IDLE_USER_BASE + i for i in range(in_progress)]
