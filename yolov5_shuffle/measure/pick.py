"""``yolov5-shuffle pick --budget-ms MS``: the most accurate (config, input size, runtime) that fits a latency
budget on THIS machine.

Published tables answer "how fast is model X on device Y"; a user asks the other way round. Accuracy comes
from the yardstick table shipped inside the package (``measure/yardstick_table.json``, so it works after
``pip install``) or from the user's own ``learn``/``yardstick`` results (``--accuracy``); latency is measured
here and now, every candidate in every runtime asked for, interleaved as the bench does (batch 1, the
threads given). The table of what fits is printed, then the pick on the last line. Nothing fits: one line
naming the budget and the fastest option measured, exit 2.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from ..errors import UserError
from ..deploy import runtimes as deploy_runtimes

def default_runtimes() -> tuple[str, ...]:
    """The registered runtimes that keep the accuracy table's fp32 numbers and are ``pick_default`` (not
    compile, whose warm-up is minutes per candidate): timed where they can run, skipped with a line elsewhere."""
    return tuple(r.name for r in deploy_runtimes.all_runtimes() if r.precision == "fp32" and r.pick_default)


# --- accuracy -----------------------------------------------------------------------------------------

def load_accuracy(path: Path | None) -> tuple[list[dict], str]:
    """Rows with cfg, imgsz, mAP50, mAP50-95, recipe and device, and where they came from (each row checked:
    :func:`.accuracy_table.read_table`)."""
    from .accuracy_table import read_table

    return read_table(path)


def candidates(rows: list[dict], configs, sizes) -> list[dict]:
    """The table's (config, size) points (mean over seeds), filtered by --configs and --imgsz."""
    from .yardstick_report import points

    pts = points([{**r, "plateaued": r.get("plateaued", False), "curve": r.get("curve", []),
                   "mAP50": r.get("mAP50", float("nan"))} for r in rows])
    if configs:
        pts = [p for p in pts if p["cfg"] in configs or Path(p["cfg"]).name in configs
               or Path(p["cfg"]).stem in configs]
    if sizes:
        pts = [p for p in pts if p["imgsz"] in sizes]
    if not pts:
        have = ", ".join(sorted({f"{Path(r['cfg']).name}@{r['imgsz']}" for r in rows}))
        raise UserError(f"no (config, size) of the accuracy table matches --configs/--imgsz; it has {have}")
    count = {r: sum(p["recipe"] == r for p in pts) for r in dict.fromkeys(p["recipe"] for p in pts)}
    recipes = sorted(count, key=lambda r: -count[r])
    if len(recipes) > 1:  # mAP from different recipes is not comparable: the recipe with the most points
        print(f"note: the table holds {len(recipes)} recipes; comparing within '{recipes[0]}' "
              f"(left out: {', '.join(recipes[1:])}; choose with --configs/--imgsz or --accuracy)")
        pts = [p for p in pts if p["recipe"] == recipes[0]]
    return pts


# --- timing -------------------------------------------------------------------------------------------

def _runtimes(asked) -> list[str]:
    from .bench import installed_runtimes

    return installed_runtimes(list(asked or default_runtimes()), asked=bool(asked))


def time_points(pts: list[dict], runtimes: list[str], threads: int, reps: int, warmup: int) -> list[dict]:
    """Median ms of every (point, runtime), the points of one runtime timed interleaved (bench's timing)."""
    import torch

    from ..hosts import build
    from .bench import make_runner
    from .timing import time_interleaved

    torch.set_num_threads(threads)
    print(f"{len(pts)} candidate(s) x {len(runtimes)} runtime(s) ({', '.join(runtimes)}): building and exporting "
          f"each first, then {warmup} untimed and {reps} timed interleaved rounds", flush=True)
    models = {}
    for p in pts:
        if p["cfg"] not in models:
            try:
                models[p["cfg"]] = build(p["cfg"])
            except (FileNotFoundError, UserError) as e:  # e.g. a docs/ candidate outside an installed package
                print(f"  skip {p['cfg']}: {str(e).strip().splitlines()[0]}", flush=True)
                models[p["cfg"]] = None
    pts = [p for p in pts if models[p["cfg"]] is not None]
    out = []
    for k, rt in enumerate(runtimes, 1):
        print(f"[{k}/{len(runtimes)}] {rt}: preparing {len(pts)} candidate(s)", flush=True)
        runners = {}
        for i, p in enumerate(pts):
            try:
                runners[i] = make_runner(rt, models[p["cfg"]], p["imgsz"], threads)
            except RuntimeError as e:  # a converter that cannot take this model: a line, not the end
                print(f"  skip {Path(p['cfg']).stem}@{p['imgsz']} in {rt}: {str(e).strip().splitlines()[0]}")
        if k == 1:
            _estimate(runners, reps + warmup, len(runtimes))

        def show(i, n, rt=rt):
            if i == n or i % max(1, n // 4) == 0:
                print(f"  {rt}: round {i}/{n}", flush=True)

        times = time_interleaved(runners, reps, warmup, show)
        out += [{**p, "runtime": rt, "median_ms": statistics.median(times[i])} for i, p in enumerate(pts) if i in times]
    return out


def _estimate(runners: dict, calls: int, n_runtimes: int) -> None:
    """One call of each candidate, scaled to the whole timing: said before the wait, not after."""
    import torch

    t0 = time.perf_counter()
    with torch.no_grad():
        for r in runners.values():
            r()
    one = time.perf_counter() - t0
    print(f"timing {len(runners)} candidate(s) x {n_runtimes} runtime(s), {calls} calls each: about "
          f"{one * calls * n_runtimes:.0f} s, plus exporting to each runtime", flush=True)


# --- the answer ---------------------------------------------------------------------------------------

def table(timed: list[dict], budget: float) -> str:
    lines = ["| config | imgsz | runtime | median ms | fits | mAP50-95 mean (min-max) | seeds | plateaued |",
             "|---|---:|---|---:|---|---:|---:|---:|"]
    for t in sorted(timed, key=lambda t: t["median_ms"]):
        lines.append(f"| {Path(t['cfg']).stem} | {t['imgsz']} | {t['runtime']} | {t['median_ms']:.1f} | "
                     f"{'yes' if t['median_ms'] <= budget else 'no'} | {t['mAP50-95']:.3f} ({t['mAP50-95_min']:.3f}-"
                     f"{t['mAP50-95_max']:.3f}) | {t['runs']} | {t['plateaued']}/{t['runs']} |")
    return "\n".join(lines)


def choose(timed: list[dict], budget: float) -> dict:
    """The most accurate (mean mAP50-95) of those within the budget, the faster on a tie; UserError if none."""
    fits = [t for t in timed if t["median_ms"] <= budget]
    if not fits:
        f = min(timed, key=lambda t: t["median_ms"])
        raise UserError(f"nothing fits --budget-ms {budget:g}: the fastest option measured is "
                        f"{Path(f['cfg']).stem} at {f['imgsz']} px in {f['runtime']}, {f['median_ms']:.1f} ms")
    return max(fits, key=lambda t: (t["mAP50-95"], -t["median_ms"]))


def run_pick(*, budget_ms: float, runtimes: list[str] | None = None, threads: int | None = None,
             configs: list[str] | None = None, imgsz: list[int] | None = None, accuracy: Path | None = None,
             reps: int, warmup: int) -> int:
    """Time the accuracy table's (config, size) points (``accuracy``, default the shipped table; filtered by
    ``configs`` and ``imgsz``) in each of ``runtimes`` (default: :func:`default_runtimes` installed here), batch 1
    on ``threads``, ``reps`` rounds after ``warmup``; print what fits ``budget_ms`` and the pick last."""
    rows, src = load_accuracy(accuracy)
    pts = candidates(rows, configs, imgsz)
    import torch

    from ..cfg_check import require_patched_host
    from .accuracy_table import buildable

    require_patched_host()
    pts = buildable(pts, configs, accuracy)  # a config file the table names: built only if --configs names it
    runtimes = _runtimes(runtimes)  # none that can run: UserError
    threads = threads or torch.get_num_threads()
    timed = time_points(pts, runtimes, threads, reps, warmup)
    if not timed:
        raise UserError("no candidate could be timed in any runtime (see the lines above)")
    from .timing import device_name

    gpus = (v for rt in runtimes for v in deploy_runtimes.by_name(rt).device_info().values())
    devices = dict.fromkeys([device_name(), *gpus])
    print(f"\nbudget {budget_ms:g} ms; latency: batch 1, {threads} threads, {', '.join(devices)}, median of {reps}")
    print(table(timed, budget_ms))
    for (recipe, device) in dict.fromkeys((t["recipe"], t["device"]) for t in timed):
        print(f"accuracy: recipe '{recipe}', trained on {device} (from {src})")
    best = choose(timed, budget_ms)
    print(f"pick: {Path(best['cfg']).name} at {best['imgsz']} px in {best['runtime']}: {best['median_ms']:.1f} ms, "
          f"mAP50-95 {best['mAP50-95']:.3f} (recipe '{best['recipe']}')")
    return 0
