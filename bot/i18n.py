"""Every text a person sees, in Kazakh and Russian.

Texts live in gettext catalogs under ``locales/<lang>/LC_MESSAGES/*.po``. The msgid of each entry is a
stable symbolic key (``"menu.title"``), the msgstr is the text with ``str.format`` placeholders
(``"{number}"``). All ``.po`` files of a language are merged, so separate concerns (service catalog,
SMS texts, bot replies) can keep separate files. Catalogs are read once at start-up with Babel; no
compiled ``.mo`` files are needed.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po

Lang = Literal["kk", "ru"]
LANGS: tuple[Lang, ...] = ("kk", "ru")
DEFAULT_LANG: Lang = "kk"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def as_lang(value: str | None) -> Lang:
    """The supported language closest to a Telegram ``language_code`` (kk, ru, ru-RU, …)."""
    if value:
        code = value.split("-")[0].split("_")[0].lower()
        if code in LANGS:
            return "kk" if code == "kk" else "ru"
    return DEFAULT_LANG


@dataclass
class _Catalog:
    singular: dict[str, str] = field(default_factory=dict)
    plural: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plural_index: Callable[[int], int] = lambda n: 0 if n == 1 else 1


class Texts:
    """Localized texts by key. Missing keys are a bug: the catalog test makes sure none are."""

    def __init__(self, catalogs: dict[str, _Catalog]) -> None:
        self._catalogs = catalogs

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Texts:
        catalogs: dict[str, _Catalog] = {}
        for lang in LANGS:
            cat = _Catalog()
            for po_path in sorted((directory / lang / "LC_MESSAGES").glob("*.po")):
                with po_path.open("rb") as fh:
                    po = read_po(fh, locale=lang)
                if po.plural_expr:
                    cat.plural_index = gettext.c2py(po.plural_expr)
                for message in po:
                    if not message.id:
                        continue
                    if isinstance(message.id, (tuple, list)):
                        cat.plural[str(message.id[0])] = tuple(message.string or ())
                    else:
                        cat.singular[str(message.id)] = str(message.string or "")
            catalogs[lang] = cat
        return cls(catalogs)

    def keys(self, lang: Lang) -> set[str]:
        cat = self._catalogs[lang]
        return set(cat.singular) | set(cat.plural)

    def raw(self, lang: Lang, key: str) -> str | tuple[str, ...]:
        cat = self._catalogs[lang]
        return cat.singular[key] if key in cat.singular else cat.plural[key]

    def has(self, lang: Lang, key: str) -> bool:
        return key in self.keys(lang)

    def __call__(self, lang: Lang, key: str, /, **params: object) -> str:
        """The text for ``key`` in ``lang`` with placeholders filled in."""
        cat = self._catalogs[lang]
        template = cat.singular.get(key)
        if not template:
            other = self._catalogs["ru" if lang == "kk" else "kk"].singular.get(key)
            template = other or key  # never crash a conversation over a missing text
        return template.format(**params) if params else template

    def plural(self, lang: Lang, key: str, n: int, /, **params: object) -> str:
        """A text that depends on a count: ``plural("ru", "overdue.days", 3)``."""
        cat = self._catalogs[lang]
        forms = cat.plural.get(key)
        if not forms:
            return self(lang, key, n=n, **params)
        index = min(cat.plural_index(n), len(forms) - 1)
        return forms[index].format(n=n, **params)


_texts: Texts | None = None


def texts() -> Texts:
    """The process-wide catalogs, loaded on first use (once: catalogs are never re-read per update)."""
    global _texts
    if _texts is None:
        _texts = Texts.load()
    return _texts


def format_when(moment: datetime, lang: Lang) -> str:
    """A local (Asia/Almaty) date and time: ru "25 ноября 2026 г., 14:30", kk "2026 ж. 25 қараша, 14:30"."""
    from babel.dates import format_date, format_time

    from bot.domain.calendar import ALMATY
    local = moment.astimezone(ALMATY)
    return f"{format_date(local.date(), 'long', locale=lang)}, {format_time(local.time(), 'HH:mm', locale=lang)}"


def format_short(moment: datetime) -> str:
    """A local (Asia/Almaty) date and time in the short numeric form SMS texts use for their budget:
    "25.11.2026 14:30" (the same in both languages)."""
    from bot.domain.calendar import ALMATY
    return moment.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M")


def format_day(value: date, lang: Lang) -> str:
    """A date alone, in the long CLDR form: ru "25 ноября 2026 г.", kk "2026 ж. 25 қараша"."""
    from babel.dates import format_date
    return format_date(value, "long", locale=lang)
