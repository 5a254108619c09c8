"""Whether a runtime's threads disturb the next model's call: each (model, runtime) timed alone and
interleaved with the others (A B A B ...). Every runtime is loaded with N threads and no busy-waiting
between calls where it allows that; this measures whether it holds."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Iterable


def time_runtimes(models: dict, runtimes: Iterable[str], imgsz: int, out_dir, threads: int = 2, reps: int = 30,
                  warmup: int = 5, calib_images=None, cycles: int = 3, reuse: bool = False,
                  log=print) -> list[dict]:
    """Median ms per (model, runtime), timed alone and interleaved; the two modes alternate ``cycles``
    times (``reps`` calls per model and mode in all) so that load from elsewhere falls on both alike.
    ``reuse``: take an artefact already in ``out_dir`` under the same name instead of exporting again."""
    from ..deploy.check import sample_image
    from ..deploy.runtimes import by_name
    from .timing import time_interleaved

    rows = []
    x = sample_image(imgsz)
    per = max(1, reps // cycles)
    for name in runtimes:
        rt = by_name(name)
        ok, why = rt.available()
        if not ok:
            log(f"skip {name}: {why}")
            continue
        runners = {}
        for label, m in models.items():
            f = rt.artefact_path(out_dir, f"{label}_{imgsz}")
            if not (reuse and f.exists()):
                f = rt.export(m, imgsz, out_dir, calib_images, name=f"{label}_{imgsz}")
            runners[label] = (lambda fn=rt.load(Path(f), threads): fn(x))
        alone, inter = _alternate(runners, per, warmup, cycles, time_interleaved)
        for k in runners:
            rows.append({"model": k, "runtime": name, "imgsz": imgsz, "threads": threads, "reps": len(alone[k]),
                         "alone_ms": statistics.median(alone[k]), "interleaved_ms": statistics.median(inter[k]),
                         "alone_times_ms": alone[k], "interleaved_times_ms": inter[k]})
            log(f"{name:17s} {imgsz:4d} {k:11s} alone {rows[-1]['alone_ms']:8.2f} ms   "
                f"interleaved {rows[-1]['interleaved_ms']:8.2f} ms")
    return rows


def _alternate(runners: dict, per: int, warmup: int, cycles: int, time_interleaved):
    alone = {k: [] for k in runners}
    inter = {k: [] for k in runners}
    for c in range(cycles):
        w = warmup if c == 0 else 1
        for k, r in runners.items():
            alone[k] += time_interleaved({k: r}, per, w)[k]
        for k, v in time_interleaved(runners, per, w).items():
            inter[k] += v
    return alone, inter
