"""Interleaved timing and the statistics every table here uses (shared by bench, pick and micro-bench).

Every name runs once a round, in a new order each round: in a fixed order the name that comes after a
given one always inherits its wake (an OpenVINO call leaves the cores busy for the next call; the first
ONNX Runtime point after the OpenVINO ones ran 2x slower), round after round. The orders are drawn from
:data:`ORDER_SEED`, so a run's orders can be told again (:func:`round_orders`); bench records the seed.
"""

from __future__ import annotations

import math
import platform
import random
import statistics
import time
from pathlib import Path

ORDER_SEED = 0


def round_orders(names, reps: int, seed: int = ORDER_SEED) -> list[list]:
    """The order of each of ``reps`` rounds: ``names`` shuffled anew every round by ``random.Random(seed)``."""
    rng, order, out = random.Random(seed), list(names), []
    for _ in range(reps):
        rng.shuffle(order)
        out.append(list(order))
    return out


def time_interleaved(runners: dict, reps: int, warmup: int, progress=None,
                     seed: int = ORDER_SEED) -> dict[str, list[float]]:
    """Per name, ``reps`` latencies in ms, every name once a round in that round's order
    (:func:`round_orders`), so that machine noise hits every model alike."""
    import torch

    with torch.no_grad():  # not inference_mode: Detect caches grids that a later export would trace
        for r in runners.values():
            for _ in range(warmup):
                r()
        times = {k: [] for k in runners}
        for i, order in enumerate(round_orders(runners, reps, seed)):
            for k in order:
                t0 = time.perf_counter()
                runners[k]()
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
