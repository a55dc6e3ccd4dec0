"""The steps of the bot's own applications (registry information): a new one registered, and each status change,
each reported to monitoring in the caller's unit of work (bot/core/stages.py).

Every status change goes through ``can_move``, as the status feed's do, so a registry request cannot skip a
step whichever service moves it (an own request, a consent decision, a result given from the queue).
"""

from __future__ import annotations

from bot.clock import Clock
from bot.core.applications import new_number
from bot.core.stages import StageReports
from bot.domain.application_status import can_move
from bot.domain.calendar import WorkingCalendar
from bot.domain.deadlines import due_at
from bot.domain.model import Application
from store.applications import ApplicationRepository


class ApplicationSteps:
    def __init__(self, apps: ApplicationRepository, stages: StageReports, clock: Clock,
                 calendar: WorkingCalendar) -> None:
        self._apps = apps
        self._stages = stages
        self._clock = clock
        self._calendar = calendar

    async def new(self, service: str, iin: str, requester_iin: str, user_id: int, status: str) -> Application:
        """A new Telegram application, numbered and due by the calendar; not yet added (``add``)."""
        now = self._clock.now()
        return Application(
            number=await new_number(self._apps, now), service=service, iin=iin, requester_iin=requester_iin,
            requester_user_id=user_id, channel="telegram", submitted_at=now,
            due_at=due_at(service, now, self._calendar), status=status, refusal_ground=None,
        )

    async def add(self, app: Application, note: str | None = None) -> None:
        """A new application, its first stage and the stage's report, in the caller's unit."""
        await self._apps.add(app, note=note)
        await self._stages.stage(app.number, app.service, app.status, app.submitted_at, app.refusal_ground)

    async def move(self, number: str, current: str, to: str, note: str | None = None,
                   refusal_ground: str | None = None) -> None:
        """A status change, checked by can_move and reported to monitoring, in the caller's unit."""
        if not can_move(current, to):
            raise ValueError(f"{number}: status cannot go from {current} to {to}")
        now = self._clock.now()
        await self._apps.set_status(number, to, now, note=note, refusal_ground=refusal_ground)
        if self._stages.on:
            app = await self._apps.get(number)
            assert app is not None
            await self._stages.stage(number, app.service, to, now, refusal_ground)
