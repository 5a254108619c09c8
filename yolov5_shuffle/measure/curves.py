"""When a training run counts, and when its learning curve has flattened (issue 17's yardstick definition).

A run counts only when its trainer exited 0 having recorded every epoch of its schedule; a curve has
plateaued when the best of its last quarter of epochs is within 0.01 of the run's best and their mean within
0.02, over at least 20 epochs so that a plateau can be seen at all.
"""

from __future__ import annotations

from pathlib import Path

MIN_EPOCHS, BEST_TOL, MEAN_TOL = 20, 0.01, 0.02


def last_quarter(n: int) -> int:
    """How many epochs the last quarter of ``n`` is: ceil(n / 4)."""
    return -(-n // 4)


def plateau(curve: list[float], min_epochs: int = MIN_EPOCHS) -> tuple[bool, str]:
    """Whether a validation curve has flattened, and why not: the best of its last quarter (ceil(n/4)
    epochs) within 0.01 of the run's best, their mean within 0.02, over at least ``min_epochs`` epochs."""
    n = len(curve)
    if n < min_epochs:
        return False, f"{n} epochs, fewer than the {min_epochs} a plateau needs"
    q = curve[n - last_quarter(n):]
    best, tail_best, tail_mean = max(curve), max(q), sum(q) / len(q)
    if best - tail_best > BEST_TOL + 1e-9:  # the bounds are inclusive (0.50 vs 0.49 passes)
        return False, f"last-quarter best {tail_best:.3f} is {best - tail_best:.3f} below the run's best {best:.3f}"
    if best - tail_mean > MEAN_TOL + 1e-9:
        return False, f"last-quarter mean {tail_mean:.3f} is {best - tail_mean:.3f} below the run's best {best:.3f}"
    return True, f"plateaued: last {len(q)} epochs' best {tail_best:.3f}, mean {tail_mean:.3f}, run best {best:.3f}"


def read_curve(run: Path) -> tuple[list[float], list[float]]:
    """Per-epoch validation (mAP50-95, mAP50) from a YOLOv5 run's results.csv."""
    import csv

    rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader((Path(run) / "results.csv").open())]
    return [float(r["metrics/mAP_0.5:0.95"]) for r in rows], [float(r["metrics/mAP_0.5"]) for r in rows]


def finished(run: Path | None, epochs: int, returncode: int | None) -> tuple[bool, str]:
    """A run counts only when train.py exited 0 and results.csv holds every epoch of its schedule."""
    if returncode != 0:
        return False, ("stopped, or never started (deadline or Ctrl-C)" if returncode is None
                       else f"train.py exited {returncode}")
    if run is None or not (Path(run) / "results.csv").is_file():
        return False, "no results.csv"
    done = len(read_curve(run)[0])
    if done != epochs:
        return False, f"{done} of {epochs} epochs recorded"
    return True, ""
