"""CPU time and memory of the processes of a run, read from psutil or, without it, from /proc (Linux); the CPU
time of a process tree (a database server and its backends) and of the whole machine, from /proc."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import psutil  # bench/requirements.txt
except ImportError:  # pragma: no cover
    psutil = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (its own threads included, children not)."""
    if psutil is None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return float("nan")
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return float("nan")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [0] state, [1] ppid, … [11] utime, [12] stime, [13] cutime,
    [14] cstime (clock ticks)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of() -> dict[int, list[int]]:
    """Every live process's children, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants so far, including the ones that have
    exited and been waited for (their time is in their parent's cutime/cstime): e.g. PostgreSQL's postmaster
    and every backend, autovacuum worker and checkpointer it forked, whether they still run or not."""
    tree = children_of()
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            f = _stat_fields(current)
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        todo.extend(tree.get(current, []))
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, summed over its cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def rss_mb(pid: int) -> dict:
    rss = peak = None
    if psutil is not None:
        rss = psutil.Process(pid).memory_info().rss / 2**20
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:") and rss is None:
                rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"rss_mb": round(rss, 1) if rss else None, "peak_rss_mb": round(peak, 1) if peak else None}


@contextmanager
def collector_paused() -> Iterator[None]:
    """The load generator's own cyclic garbage collector waits for the end of a measured phase. Its full
    collections walk everything the recorders hold and paused this process for 50–100 ms, during which every
    reply arriving was timestamped late: the harness's pause counted as the measured bot's latency. Reference
    counting still frees nearly everything meanwhile; the cycles are collected after the phase."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class CpuMeter:
    """CPU seconds of each process over a phase (`seconds`), and the same as % of one core (`result`). `trees`:
    processes counted with all their descendants (tree_cpu_seconds); `machine` adds the whole machine's busy
    CPU (all cores, every process, ours or not) as "machine"."""

    def __init__(self, pids: dict[str, int], trees: dict[str, int] | None = None, machine: bool = False) -> None:
        self.pids = pids
        self.trees = trees or {}
        self.machine = machine
        self.seconds: dict[str, float] = {}
        self.result: dict[str, float] = {}
        self.wall = 0.0

    def _read(self) -> dict[str, float]:
        out = {k: cpu_seconds(p) for k, p in self.pids.items()}
        out.update({k: tree_cpu_seconds(p) for k, p in self.trees.items()})
        if self.machine:
            out["machine"] = machine_cpu_seconds()[0]
        return out

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.c0 = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.seconds = {k: v - self.c0[k] for k, v in self._read().items()}
        self.result = {k: round(100 * s / self.wall, 1) for k, s in self.seconds.items()}
