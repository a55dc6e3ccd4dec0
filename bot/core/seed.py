"""`qyzmet seed FILE.json`: the citizen directory, registries and applications in the seed format of DESIGN.md."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.calendar import WorkingCalendar
from bot.domain.catalog import get_service
from bot.domain.deadlines import due_at
from bot.domain.iin import parse_iin
from bot.domain.model import Application, Citizen, RegistryRecord
from bot.domain.phone import normalize_phone
from store.applications import ApplicationRepository
from store.citizens import CitizenRepository


class SeedCitizen(BaseModel):
    iin: str
    full_name: str
    birth_date: date
    address: str
    phone: str | None = None

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str) -> str:
        return parse_iin(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None


class SeedRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    iin: str
    register_: Literal["tb", "psychiatry", "narcology"] = Field(alias="register")
    observed: bool
    source_system: str

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str) -> str:
        return parse_iin(value)


class SeedEvent(BaseModel):
    status: str
    at: datetime
    note: str | None = None


class SeedApplication(BaseModel):
    number: str
    iin: str
    service: str
    submitted_at: datetime
    status: str
    events: list[SeedEvent] = []

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str) -> str:
        return parse_iin(value)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        get_service(value)
        return value

    @field_validator("submitted_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("submitted_at needs a time zone offset")
        return value


class Seed(BaseModel):
    citizens: list[SeedCitizen] = []
    registry: list[SeedRecord] = []
    applications: list[SeedApplication] = []


def read_seed(path: Path) -> Seed:
    return Seed.model_validate(json.loads(path.read_text(encoding="utf-8")))


async def load_seed(seed: Seed, citizens: CitizenRepository, apps: ApplicationRepository,
                    calendar: WorkingCalendar) -> dict[str, int]:
    """Load a seed; loading the same seed twice changes nothing."""
    for c in seed.citizens:
        await citizens.upsert(Citizen(c.iin, c.full_name, c.birth_date.isoformat(), c.address, c.phone))
    for r in seed.registry:
        await citizens.upsert_record(RegistryRecord(r.iin, r.register_, r.observed, r.source_system))
    added = 0
    for a in seed.applications:
        if await apps.exists(a.number):
            continue
        app = Application(a.number, a.service, a.iin, a.iin, None, "seed", a.submitted_at,
                          due_at(a.service, a.submitted_at, calendar), a.status, None)
        await apps.add(app)
        for event in a.events:
            await apps.set_status(a.number, event.status, event.at, event.note)
        if a.events and a.events[-1].status != a.status:
            await apps.set_status(a.number, a.status, a.events[-1].at)
        added += 1
    return {"citizens": len(seed.citizens), "registry": len(seed.registry), "applications": added}
