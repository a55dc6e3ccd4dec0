"""A citizen's own registry information (S1–S3): the verified requester asks, the result is given at once — or,
when the directory or the registry cannot answer now, the request is accepted and its question queued
(bot/core/registry_results.py)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.application_steps import ApplicationSteps
from bot.core.registry_info import Accepted, Delivered, Source
from bot.core.registry_results import ResultDelivery
from bot.core.registry_sources import Sources
from bot.domain.catalog import get_service
from bot.domain.model import Identity
from store.db import Database


@dataclass(frozen=True)
class OwnAsked:
    """What the directory and the registry answered for ``iin``'s own request, asked ahead of the update's first
    write (the request follows identification in the same update): None, they could not answer now."""
    iin: str
    service: str
    source: Source | None


class OwnRequestService:
    def __init__(self, db: Database, steps: ApplicationSteps, sources: Sources, results: ResultDelivery) -> None:
        self._db = db
        self._steps = steps
        self._sources = sources
        self._results = results

    async def ask(self, iin: str, service: str) -> OwnAsked:
        """The outside systems, asked now for an own request about to be made (outside a begun unit)."""
        register = get_service(service).register
        assert register is not None, service
        return OwnAsked(iin, service, await self._sources.source_now(iin, register))

    async def request_own(self, identity: Identity, user_id: int, service: str, asked: OwnAsked | None = None
                          ) -> Delivered | Accepted:
        """Register the request and issue the result to its verified requester, in one unit; when the
        directory or the registry cannot answer now, the request is accepted and its question queued.
        ``asked``: what ``ask`` answered ahead (else it is asked here, before the unit begins)."""
        if asked is None or (asked.iin, asked.service) != (identity.iin, service):
            asked = await self.ask(identity.iin, service)
        source = asked.source
        async with self._db.unit("registry/own"):
            app = await self._steps.new(service, identity.iin, identity.iin, user_id, "accepted")
            await self._steps.add(app)
            if source is None:
                await self._results.ask_later(app.number)
                return Accepted(app)
            return Delivered(app, await self._results.give(app, source))
