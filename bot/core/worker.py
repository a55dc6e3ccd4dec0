"""The worker: the one loop that runs every background job of a process — SMS sending, the Telegram outbox, the
state systems' outbox, the registry questions, broadcasts and the periodic sweep.

A job is a small object: a name, a pass ("do what is due now; how many seconds until something may be due
again") and a wake-up (a commit that owes something, another process's NOTIFY, a retry put back in the queue).
The loop is the same for every job: clear the wake-up, run a pass, sleep until the pass's time or a wake-up,
again; a pass that fails is logged and tried again after the job's idle time (the worker outlives a locked
database, a gateway's bug).

Each job runs as its own task, driven by this one loop. Why not one task running the jobs in turn: a pass is as
long as its work — a broadcast to a million subscribers takes hours, a registry question waits on a slow
state system — and a code SMS must leave within a second meanwhile. Side by side, a job holds up only itself;
the shared limits (Telegram's pace, SQLite's one writer, the SMS cap) are where they are kept anyway.

The worker starts its jobs together and stops them together: a stopping job takes nothing new, and the attempt
in progress finishes (so its outcome is recorded) within the job's grace, after which it is cancelled — a
lease or a 'sending' mark then covers what was on the wire. Readiness is per job (``running``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Pass = Callable[[], Awaitable[float]]


class Job:
    """One background job. ``run_pass`` does what is due and returns the seconds until something may be due
    again; ``idle_seconds`` is the wait after a pass that failed; ``finish`` runs once the loop has ended (a
    hold to release); ``grace`` is how long a stop waits for the attempt in progress. A pass reads ``stopping``
    between its attempts and ends early when it is set."""

    def __init__(self, name: str, run_pass: Pass, idle_seconds: Callable[[], float],
                 finish: Callable[[], Awaitable[None]] | None = None, grace: float = 5.0) -> None:
        self.name = name
        self._pass = run_pass
        self._idle = idle_seconds
        self._finish = finish
        self.grace = grace
        self.stopping = False
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something may be due now: the sleeping loop runs a pass at once (a pass running sees it after)."""
        self._woken.set()

    @property
    def running(self) -> bool:
        """The job was started and its loop has not ended (readiness)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self.stopping = False
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Take nothing new; let the attempt in progress finish (up to ``grace`` seconds), then end."""
        task, self._task = self._task, None
        if task is None:
            return
        self.stopping = True
        self._woken.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.grace)
        except Exception:  # the grace ran out (or the loop failed)
            # The flag as well as the cancel: an HTTP client may turn a cancellation into a network error, which
            # a job takes for "retry later" — the loop must still end.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        self.stopping = False  # a pass may still be run by hand, without the loop

    async def sleep(self, seconds: float) -> None:
        """Within a pass: wait ``seconds``, or less if the job is woken or stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), max(seconds, 0.0))

    async def _loop(self) -> None:
        try:
            while not self.stopping:
                self._woken.clear()  # before the pass: a wake-up that comes during it is not lost
                try:
                    wait = await self._pass()
                except Exception:  # the worker must outlive one bad pass
                    log.exception("%s: pass failed", self.name)
                    wait = self._idle()
                if self.stopping:
                    break
                await self.sleep(wait)
        finally:
            if self._finish is not None:
                with contextlib.suppress(Exception):
                    await self._finish()


class Worker:
    """The jobs of a process, started and stopped together."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = {job.name: job for job in jobs}

    def start(self, *names: str) -> None:
        """Start the named jobs (all when none is named)."""
        for job in self._named(names):
            job.start()

    async def stop(self, *names: str) -> None:
        """Stop the named jobs (all when none is named) at once: each lets its attempt in progress finish."""
        await asyncio.gather(*(job.stop() for job in self._named(names)))

    def running(self, name: str) -> bool:
        job = self.jobs.get(name)
        return job is not None and job.running

    def _named(self, names: tuple[str, ...]) -> list[Job]:
        return [self.jobs[name] for name in names] if names else list(self.jobs.values())
