"""Interleaved timing and the statistics every table here uses (shared by bench and micro-bench)."""

from __future__ import annotations

import math
import platform
import statistics
import time
from pathlib import Path


def time_interleaved(runners: dict, reps: int, warmup: int, progress=None) -> dict[str, list[float]]:
    """Per name, ``reps`` latencies in ms, taken round-robin across all names (A B C A B C ...), so that
    machine noise hits every model alike."""
    import torch

    with torch.no_grad():  # not inference_mode: Detect caches grids that a later export would trace
        for r in runners.values():
            for _ in range(warmup):
                r()
        times = {k: [] for k in runners}
        for i in range(reps):
            for k, r in runners.items():
                t0 = time.perf_counter()
                r()
                times[k].append((time.perf_counter() - t0) * 1e3)
            if progress:
                progress(i + 1, reps)
    return times


def ratio_medians(times: dict[str, list[float]], base: str) -> dict[str, float]:
    """Median over rounds of (model latency / baseline latency in the same round)."""
    if base not in times:
        return {}
    return {k: statistics.median(a / b for a, b in zip(v, times[base])) for k, v in times.items()}


def p90(v: list[float]) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, math.ceil(0.9 * len(s)) - 1)]


def device_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return cpu
