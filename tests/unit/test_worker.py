"""The worker (bot/core/worker.py): every background job runs the same loop — a pass, a sleep until the pass's
time or a wake-up — side by side, and they stop together, each letting its attempt in progress finish."""

from __future__ import annotations

import asyncio

from bot.core.worker import Job, Worker


class Recorder:
    def __init__(self, name: str, wait: float = 60.0, attempt: float = 0.0, fail_first: bool = False) -> None:
        self.passes = 0
        self.finished_attempts = 0
        self.wait, self.attempt, self.fail_first = wait, attempt, fail_first
        self.job = Job(name, self._pass, lambda: 0.01)

    async def _pass(self) -> float:
        self.passes += 1
        if self.fail_first and self.passes == 1:
            raise RuntimeError("a bad pass")
        await asyncio.sleep(self.attempt)
        self.finished_attempts += 1
        return self.wait


async def until(predicate, seconds: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)


async def test_a_woken_job_runs_a_pass_at_once_and_a_failed_pass_does_not_end_it():
    quiet, failing = Recorder("quiet"), Recorder("failing", fail_first=True)
    worker = Worker([quiet.job, failing.job])
    worker.start()
    await until(lambda: quiet.passes == 1 and failing.passes == 2)  # the failed pass is tried again after idle
    assert worker.running("quiet") and worker.running("failing")
    quiet.job.wake()
    await until(lambda: quiet.passes == 2)  # not after its 60 s
    await worker.stop()
    assert not worker.running("quiet") and not worker.running("failing")


async def test_a_long_pass_does_not_hold_up_another_job():
    long, short = Recorder("broadcasts", attempt=30.0), Recorder("sms", wait=0.01)
    worker = Worker([long.job, short.job])
    worker.start()
    await until(lambda: short.passes >= 5)
    assert long.passes == 1 and long.finished_attempts == 0
    long.job.grace = 0.05
    await worker.stop()


async def test_stopping_lets_the_attempt_in_progress_finish_and_takes_nothing_new():
    slow, other = Recorder("telegram", attempt=0.2), Recorder("sms")
    worker = Worker([slow.job, other.job])
    worker.start()
    await until(lambda: slow.passes == 1)
    await worker.stop()
    assert slow.finished_attempts == 1 and slow.passes == 1
    assert not worker.running("telegram")
    worker.start("telegram")  # started again, alone
    await until(lambda: slow.passes == 2)
    assert worker.running("telegram") and not worker.running("sms")
    await worker.stop()
