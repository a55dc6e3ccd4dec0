"""The loop every outbox worker runs: a pass over what is due, then a sleep until something may be due again or
until a commit wakes it. One implementation for the SMS outbox, the state systems' outbox and the registry
questions (the Telegram outbox has its own in handlers/telegram/delivery.py, where its Bot API client lives)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class WorkerLoop:
    """Mixin: a subclass defines ``process_due()`` (one pass: (attempted, seconds until something may be due))
    and ``_idle_seconds()`` (the wait after a failed pass), and names its task in ``worker_name``."""

    worker_name = "worker"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False

    async def process_due(self) -> tuple[int, float]:
        raise NotImplementedError

    def _idle_seconds(self) -> float:
        raise NotImplementedError

    @property
    def worker_running(self) -> bool:
        """The worker was started and has not ended (readiness)."""
        return self._worker is not None and not self._worker.done()

    def wake(self) -> None:
        self._wake.set()

    def start_worker(self) -> None:
        if self._worker is None:
            self._stopping = False
            self._worker = asyncio.create_task(self._run(), name=self.worker_name)

    async def stop_worker(self, timeout: float = 5.0) -> None:
        """Let the attempt in progress finish (so its outcome is recorded), then stop."""
        task, self._worker = self._worker, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(task, timeout)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._stopping = False  # a pass may still be run by hand (process_due) without the worker

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                _, wait = await self.process_due()
            except Exception:  # the worker must outlive one bad pass (a locked database, a gateway bug…)
                log.exception("%s: pass failed", self.worker_name)
                wait = self._idle_seconds()
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
