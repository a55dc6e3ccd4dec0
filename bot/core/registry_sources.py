"""What the outside systems say for a registry request: the person (citizen directory) and the observation
(registry), read at once and never stored.

They are asked before a unit of work begins, never inside one (store/db.py): a slow system then holds no
database connection and, with SQLite, keeps no other writer waiting. A use case reads what it needs, asks here,
then opens its unit, reads again what may have changed meanwhile and writes. What a system could not answer
goes to the queues that exist for it (the registry question, "try later").
"""

from __future__ import annotations

import logging

from bot.core.registry_info import Asked, Source
from bot.domain.catalog import get_service
from bot.domain.iin import mask_iin
from bot.domain.model import Application, Citizen
from bot.domain.names import mask_name
from bot.gateways.state_systems import CitizenDirectory, Registries, StateSystemUnavailable

log = logging.getLogger(__name__)


class Sources:
    def __init__(self, directory: CitizenDirectory, registries: Registries) -> None:
        self._directory = directory
        self._registries = registries

    async def person(self, iin: str) -> Citizen | None:
        """The directory's record of ``iin``; StateSystemUnavailable when it cannot answer now."""
        return await self._directory.person(iin)

    async def source(self, iin: str, register: str) -> Source:
        """The person and the observation, asked now; StateSystemUnavailable when either cannot answer."""
        return Source(await self._directory.person(iin), await self._registries.lookup(iin, register))

    async def source_now(self, iin: str, register: str) -> Source | None:
        """``source``, or None when it cannot be had now (the question then goes to the queue)."""
        try:
            return await self.source(iin, register)
        except StateSystemUnavailable as exc:
            log.warning("registry question for %s not answered now: %s", mask_iin(iin), exc)
            return None

    async def requester_label(self, requester_iin: str) -> tuple[str, str]:
        """The requester as a data subject is told about them: masked name and masked IIN (the IIN alone when
        the directory cannot answer now: the message is not held back for a courtesy)."""
        try:
            requester = await self._directory.person(requester_iin)
        except StateSystemUnavailable:
            requester = None
        return (mask_name(requester.full_name) if requester else ""), mask_iin(requester_iin)

    async def for_consent(self, app: Application) -> Asked:
        """All a consent given to ``app`` needs from outside: its result's source (None: queued) and the
        requester's label for the subject's notice."""
        register = get_service(app.service).register
        assert register is not None, app.service
        source = await self.source_now(app.iin, register)
        if source is None:  # the result is owed from the queue; the subject is told then, asked then
            return Asked(None, ("", mask_iin(app.requester_iin or "")))
        return Asked(source, await self.requester_label(app.requester_iin or ""))
