"""`qyzmet seed FILE.json`: the citizen directory, registries and applications in the seed format of DESIGN.md.

Checked before anything is written, and written in one transaction: a file with one mistake loads nothing.
* Unknown keys are refused at every level ("citizen" for "citizens" would otherwise load nothing and succeed).
* Application numbers, IINs, services, statuses and times are checked as the status feed checks them
  (bot/core/status_feed.py ``check_field``): the same data is accepted by both doors.
* Every IIN is once among the citizens; registry records and applications are about the file's citizens.
* ``events`` are the application's history, as written: the first is the submission (at ``submitted_at``),
  each next one moves the status forward, and ``status`` is the last one's. Without ``events`` the history is
  one event with ``status`` at ``submitted_at``. No stage is ever made up.
Problems are reported as lines that point into the file: ``citizens[1].iin: not a valid IIN (…)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.status_feed import check_field
from bot.domain.application_status import can_move
from bot.domain.calendar import WorkingCalendar
from bot.domain.deadlines import due_at
from bot.domain.model import Application, Citizen, RegistryRecord
from bot.domain.phone import InvalidPhone, normalize_phone
from store.applications import ApplicationRepository
from store.citizens import CitizenRepository


class SeedError(ValueError):
    """The file cannot be loaded; ``problems`` are lines like ``registry[2].iin: not among the citizens…``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _feed(name: str, value: object) -> Any:
    """A field checked by the status feed's rule, its message without the field's own name in front."""
    try:
        return check_field(name, value)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix(f"{name} ")) from None


def _text(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value.strip() if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SeedCitizen(_Strict):
    iin: str
    full_name: str
    birth_date: date
    address: str
    phone: str | None = None

    _iin = field_validator("iin", mode="before")(lambda v: _feed("iin", v))
    _texts = field_validator("full_name", "address", mode="before")(_text)

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string like +77011234567, or null")
        try:
            return normalize_phone(value)
        except InvalidPhone:
            raise ValueError("not a Kazakhstan mobile number") from None


class SeedRecord(_Strict):
    iin: str
    register_: Literal["tb", "psychiatry", "narcology"] = Field(alias="register")
    observed: bool
    source_system: str

    _iin = field_validator("iin", mode="before")(lambda v: _feed("iin", v))
    _texts = field_validator("source_system", mode="before")(_text)


class SeedEvent(_Strict):
    status: str
    at: datetime
    note: str | None = None

    _status = field_validator("status", mode="before")(lambda v: _feed("status", v))
    _at = field_validator("at", mode="before")(lambda v: _feed("at", v))
    _note = field_validator("note", mode="before")(lambda v: _feed("note", v))


class SeedApplication(_Strict):
    number: str
    iin: str
    service: str
    submitted_at: datetime
    status: str
    events: list[SeedEvent] = []

    _number = field_validator("number", mode="before")(lambda v: _feed("number", v))
    _iin = field_validator("iin", mode="before")(lambda v: _feed("iin", v))
    _service = field_validator("service", mode="before")(lambda v: _feed("service", v))
    _status = field_validator("status", mode="before")(lambda v: _feed("status", v))
    _submitted = field_validator("submitted_at", mode="before")(lambda v: _feed("at", v))


class Seed(_Strict):
    citizens: list[SeedCitizen] = []
    registry: list[SeedRecord] = []
    applications: list[SeedApplication] = []


def read_seed(path: Path) -> Seed:
    """The seed in a file: OSError if it cannot be read, SeedError if it cannot be loaded."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError([f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from None
    return parse_seed(data)


def parse_seed(data: object) -> Seed:
    """A checked seed from decoded JSON; SeedError with every problem found."""
    if not isinstance(data, dict):
        raise SeedError([f"the file must hold one JSON object with the keys {', '.join(Seed.model_fields)}"])
    try:
        seed = Seed.model_validate(data)
    except ValidationError as exc:
        raise SeedError([_describe(error) for error in exc.errors(include_url=False)]) from None
    found = problems(seed)
    if found:
        raise SeedError(found)
    return seed


def problems(seed: Seed) -> list[str]:
    """What is wrong across records (each record being valid on its own)."""
    found: list[str] = []
    citizens: dict[str, int] = {}
    for i, c in enumerate(seed.citizens):
        if c.iin in citizens:
            found.append(f"citizens[{i}].iin: the same IIN as citizens[{citizens[c.iin]}]")
        else:
            citizens[c.iin] = i
    records: dict[tuple[str, str], int] = {}
    for i, r in enumerate(seed.registry):
        if r.iin not in citizens:
            found.append(f"registry[{i}].iin: not among the citizens of this file")
        if (r.iin, r.register_) in records:
            found.append(f"registry[{i}]: the same IIN and register as registry[{records[r.iin, r.register_]}]")
        else:
            records[r.iin, r.register_] = i
    numbers: dict[str, int] = {}
    for i, a in enumerate(seed.applications):
        where = f"applications[{i}]"
        if a.iin not in citizens:
            found.append(f"{where}.iin: not among the citizens of this file")
        if a.number in numbers:
            found.append(f"{where}.number: the same number as applications[{numbers[a.number]}]")
        else:
            numbers[a.number] = i
        found.extend(_history_problems(a, where))
    return found


def _history_problems(a: SeedApplication, where: str) -> list[str]:
    if not a.events:
        return []
    found = []
    if a.events[0].at != a.submitted_at:
        found.append(f"{where}.events[0].at: the first event is the submission; its time must be submitted_at")
    for j in range(1, len(a.events)):
        before, event = a.events[j - 1], a.events[j]
        if event.at < before.at:
            found.append(f"{where}.events[{j}].at: earlier than events[{j - 1}] (list the events in order)")
        elif not can_move(before.status, event.status):
            found.append(f"{where}.events[{j}].status: cannot go from {before.status} to {event.status}")
    if a.status != a.events[-1].status:
        found.append(f"{where}.status: {a.status}, but the last event is {a.events[-1].status} "
                     "(the status is the last event's)")
    return found


async def load_seed(seed: Seed, citizens: CitizenRepository, apps: ApplicationRepository,
                    calendar: WorkingCalendar, progress: Callable[[], None] | None = None) -> dict[str, int]:
    """Load a checked seed inside the caller's unit of work (Services.load_seed: all or nothing); loading the
    same seed twice changes nothing (citizens and records are updated, applications already there are left as
    they are)."""
    found = problems(seed)
    if found:
        raise SeedError(found)
    added = 0
    tick = progress or (lambda: None)
    for c in seed.citizens:
        await citizens.upsert(Citizen(c.iin, c.full_name, c.birth_date.isoformat(), c.address, c.phone))
        tick()
    for r in seed.registry:
        await citizens.upsert_record(RegistryRecord(r.iin, r.register_, r.observed, r.source_system))
        tick()
    for a in seed.applications:
        tick()
        if await apps.exists(a.number):
            continue
        first = a.events[0] if a.events else None
        app = Application(a.number, a.service, a.iin, a.iin, None, "seed", a.submitted_at,
                          due_at(a.service, a.submitted_at, calendar), first.status if first else a.status,
                          None)
        await apps.add(app, note=first.note if first else None)  # the submission, at submitted_at
        for event in a.events[1:]:
            await apps.set_status(a.number, event.status, event.at, event.note)
        added += 1
    return {"citizens": len(seed.citizens), "registry": len(seed.registry), "applications": added}


# Where a validation error points, and what each kind of error means, in the file's own words.
_MODELS: dict[str, type[BaseModel]] = {"citizens": SeedCitizen, "registry": SeedRecord,
                                      "applications": SeedApplication, "events": SeedEvent}
_MESSAGES = {
    "missing": "required",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
}


def _describe(error: Any) -> str:
    loc = [part for part in error.get("loc", ()) if part != "function-after"]
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    kind = error["type"]
    if kind == "extra_forbidden":
        model: type[BaseModel] = Seed
        for part in loc[:-1]:
            if isinstance(part, str):
                model = _MODELS.get(part, model)
        keys = [f.alias or name for name, f in model.model_fields.items()]
        message = f"unknown key (expected {', '.join(keys)})"
    elif kind == "literal_error":
        message = f"must be one of {str((error.get('ctx') or {}).get('expected', '')).replace(chr(39), '')}"
    else:
        message = _MESSAGES.get(kind) or str(error["msg"]).removeprefix("Value error, ")
    return f"{path or 'the file'}: {message}"
