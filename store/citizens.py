"""The embedded citizen directory and the three registries (the defaults behind bot.gateways)."""

from __future__ import annotations

from bot.domain.model import Citizen, RegistryRecord
from store.db import Database


class CitizenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, iin: str) -> Citizen | None:
        row = await self._db.fetchone(
            "SELECT iin, full_name, birth_date, address, phone FROM citizens WHERE iin = ?", (iin,))
        return Citizen(*row) if row else None

    async def upsert(self, citizen: Citizen) -> None:
        await self._db.write(
            "INSERT INTO citizens (iin, full_name, birth_date, address, phone) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (iin) DO UPDATE SET full_name = excluded.full_name, birth_date = excluded.birth_date, "
            "address = excluded.address, phone = excluded.phone",
            (citizen.iin, citizen.full_name, citizen.birth_date, citizen.address, citizen.phone),
        )

    async def record(self, iin: str, register: str) -> RegistryRecord | None:
        row = await self._db.fetchone(
            "SELECT iin, register, observed, source_system FROM registry_records WHERE iin = ? AND register = ?",
            (iin, register))
        return RegistryRecord(row[0], row[1], bool(row[2]), row[3]) if row else None

    async def upsert_record(self, record: RegistryRecord) -> None:
        await self._db.write(
            "INSERT INTO registry_records (iin, register, observed, source_system) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (iin, register) DO UPDATE SET observed = excluded.observed, "
            "source_system = excluded.source_system",
            (record.iin, record.register, int(record.observed), record.source_system),
        )
