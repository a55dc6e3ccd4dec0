"""CPU time and memory of the processes of a run, read from psutil or, without it, from /proc (Linux)."""

from __future__ import annotations

import os
import time
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


class CpuMeter:
    """CPU seconds of each process over a phase (`seconds`), and the same as % of one core (`result`)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.seconds: dict[str, float] = {}
        self.result: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        self.seconds = {k: cpu_seconds(p) - self.c0[k] for k, p in self.pids.items()}
        self.result = {k: round(100 * s / wall, 1) for k, s in self.seconds.items()}
