"""Operators and admins, and the audit log of what they do.

Roles live in the database (table staff): 'operator' may use the console (look up applications, see what is
overdue, broadcast); 'admin' may do all of that too. QYZMET_OPERATORS bootstraps operators at start-up;
`qyzmet operators add|remove|list` manages them from the command line. Every operator action, every view of a
citizen's data and every change of roles writes an audit row — with IINs and phones masked, never in clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from bot.clock import Clock
from bot.core.applications import normalize_number
from bot.domain.application_status import FINAL_STATUSES
from bot.domain.calendar import WorkingCalendar
from bot.domain.deadlines import overdue_working_days
from bot.domain.model import Application, Event
from store.applications import ApplicationRepository
from store.audit import AuditRepository
from store.db import Database
from store.staff import StaffMember, StaffRepository

OPERATOR: Final = "operator"
ADMIN: Final = "admin"
ROLES: Final = (OPERATOR, ADMIN)
ACTOR_CLI: Final = "cli"
ACTOR_CONFIG: Final = "config"

# Ten or more digits, possibly with spaces, dashes, brackets or a leading + (an IIN, a phone number).
_LONG_NUMBER = re.compile(r"\+?\d(?:[\s\-()]*\d){9,}")


def scrub(value: object) -> object:
    """Mask anything that looks like an IIN or a phone number in audit details (keeps the last 4 digits)."""
    if isinstance(value, str):
        def mask(m: re.Match[str]) -> str:
            if value[max(0, m.start() - 3):m.start()].upper().rstrip("- ").endswith(("QZ", "CP")):
                return m.group(0)  # application/complaint numbers (QZ-/CP-yymmdd-NNNNNNN) are not personal data
            return "******" + re.sub(r"\D", "", m.group(0))[-4:]
        return _LONG_NUMBER.sub(mask, value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


@dataclass(frozen=True)
class OverdueItem:
    app: Application
    working_days: int  # 0 when the deadline passed today (or only days off have passed since)


@dataclass(frozen=True)
class OverduePage:
    total: int
    offset: int
    items: list[OverdueItem]


class StaffService:
    def __init__(self, db: Database, staff: StaffRepository, audit: AuditRepository, apps: ApplicationRepository,
                 calendar: WorkingCalendar, clock: Clock) -> None:
        self._db = db
        self._staff = staff
        self._audit = audit
        self._apps = apps
        self._calendar = calendar
        self._clock = clock

    # Roles -----------------------------------------------------------------------------------------------

    async def role(self, user_id: int) -> str | None:
        return await self._staff.role(user_id)

    async def is_operator(self, user_id: int) -> bool:
        """Operators and admins (an admin can do everything an operator can)."""
        return await self._staff.role(user_id) in ROLES

    async def is_admin(self, user_id: int) -> bool:
        return await self._staff.role(user_id) == ADMIN

    async def add(self, actor: str, user_id: int, role: str = OPERATOR) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        async with self._db.unit("staff/add"):
            before = await self._staff.role(user_id)
            await self._staff.put(user_id, role, actor, self._clock.now())
            await self.audit(actor, "staff_add", details={"user_id": user_id, "role": role, "was": before})

    async def remove(self, actor: str, user_id: int) -> bool:
        async with self._db.unit("staff/remove"):
            removed = await self._staff.remove(user_id)
            await self.audit(actor, "staff_remove", details={"user_id": user_id, "removed": removed})
            return removed

    async def members(self) -> list[StaffMember]:
        return await self._staff.all()

    async def bootstrap(self, user_ids: Iterable[int]) -> list[int]:
        """Make the configured ids operators; an existing role (e.g. admin) is kept. An operator that an earlier
        configuration added and the current one no longer lists loses the role (taking an id out of
        QYZMET_OPERATORS is how a deployer takes the console away); an admin stays. Returns who was added."""
        async with self._db.unit("staff/bootstrap"):
            return await self._bootstrap(list(dict.fromkeys(user_ids)))

    async def _bootstrap(self, wanted: list[int]) -> list[int]:
        for user_id in await self._staff.config_operators(ACTOR_CONFIG):
            if user_id not in wanted and await self._staff.remove(user_id):
                await self.audit(ACTOR_CONFIG, "staff_remove", details={"user_id": user_id, "removed": True})
        added = []
        for user_id in wanted:
            if await self._staff.add_if_absent(user_id, OPERATOR, ACTOR_CONFIG, self._clock.now()):
                added.append(user_id)
                await self.audit(ACTOR_CONFIG, "staff_add", details={"user_id": user_id, "role": OPERATOR})
        return added

    # Audit -----------------------------------------------------------------------------------------------

    async def audit(self, actor: int | str, action: str, number: str | None = None,
                    details: dict[str, Any] | None = None) -> None:
        """One audit row, in the caller's unit of work (or one of its own)."""
        async with self._db.unit("audit"):
            await self._audit.add(self._clock.now(), str(actor), action,
                                  str(scrub(number)) if number else None,
                                  scrub(details) if details else None)  # type: ignore[arg-type]

    # Console use cases -------------------------------------------------------------------------------------

    async def view_application(self, operator_id: int, text: str) -> tuple[Application, list[Event]] | None:
        """An application by number, for an operator; every lookup is audited, found or not."""
        async with self._db.unit("staff/view_application"):
            if not await self.is_operator(operator_id):
                return None
            number = normalize_number(text)
            app = await self._apps.get(number) if number else None
            await self.audit(operator_id, "view_application", number or text[:40],
                             {"found": app is not None, **({"service": app.service} if app else {})})
            if app is None:
                return None
            return app, await self._apps.events(app.number)

    async def overdue(self, operator_id: int, offset: int = 0, limit: int = 10) -> OverduePage:
        """Open applications past due, most overdue first; the view is audited."""
        now = self._clock.now()
        async with self._db.unit("staff/overdue"):
            if not await self.is_operator(operator_id):
                return OverduePage(0, offset, [])
            total, apps = await self._apps.overdue(now, FINAL_STATUSES, limit, max(offset, 0))
            await self.audit(operator_id, "list_overdue",
                             details={"offset": offset, "shown": len(apps), "total": total})
        return OverduePage(total, offset, [OverdueItem(a, overdue_working_days(a.due_at, now, self._calendar))
                                           for a in apps])
