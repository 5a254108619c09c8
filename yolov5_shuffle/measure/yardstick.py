"""``yolov5-shuffle yardstick``: an accuracy ruler whose learning curves have flattened before it is read.

The 20-epoch ``learn`` recipe stops every model mid-climb, so one seed moves a result by more than the
differences it is asked to show. The yardstick trains each (config, input size, seed) of a grid with one
recipe (harder generated shapes, validation on >= 500 images, a schedule that ends), each run its own
YOLOv5 ``train.py`` (``--parallel N`` side by side on a GPU), reads every run's per-epoch validation
mAP50-95 from its results.csv, and checks that the curve has plateaued (:func:`.curves.plateau`): the best of the
last quarter of epochs within 0.01 of the run's best, the last quarter's mean within 0.02, over at least
20 epochs. A run that did not finish its schedule (killed, crashed, cut by ``--deadline-min``) is listed
and never reported. The table and plots are written by :mod:`.yardstick_report`.

A grid may span sessions: each finished run's row is merged into ``yardstick.json`` (under the table's lock,
:func:`..outputs.update_json`) the moment it ends, and the report rewritten. Run again with the same grid,
the yardstick skips the (config, size, seed) it already has with the same recipe and restarts each
unfinished run from scratch in its own folder, which has a fixed name (recipe, config, size, seed) so the
next run finds it. From scratch rather than YOLOv5's ``--resume``: a restarted run is then exactly a run that
was never interrupted (same seed, same schedule, one results.csv), and a dead run's half-written checkpoint
cannot make it fail. The runs' processes stop with the yardstick: Ctrl-C, SIGTERM and SIGHUP stop them,
and each run asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), a ``kill -9`` included.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import signal
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import UserError, user_path
from ..outputs import Busy, check_out_folder, locked, update_json
from .curves import finished, plateau, read_curve
from .yardstick_runs import FINISHED, Job, RunOptions, interrupted, run_jobs

# dataset.Scene settings (dataset.py imports OpenCV, which the command line must not load to start):
HARD = {"min_size": 0.05, "max_size": 0.3, "max_objects": 10, "max_cover": 0.4, "clutter": 3}  # smaller, more, hidden
# issue 18's best-placed candidates at yolov5n@320's latency (docs/speed-goal/grid.yaml, front-4: 0.91x and 0.95x)
CANDIDATES = ("docs/speed-goal/yolov5n-shufflenetv2-ghostpan64-p6.yaml", "docs/speed-goal/yolov5n-shufflenetv2-ghostpan96.yaml")


@dataclass(frozen=True)
class Recipe:
    """Everything a yardstick number depends on besides (config, size, seed); stored with every row."""

    name: str
    train: int
    val: int
    epochs: int
    batch: int
    data_imgsz: int
    scene: dict = field(default_factory=lambda: dict(HARD))
    optimizer: str = "AdamW"
    hyp: str = "hyps/hyp.demo.yaml"
    weights: str = "from scratch"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Grid:
    recipe: Recipe
    points: tuple  # (cfg, imgsz) pairs, in the order they are run
    seeds: tuple = (0, 1, 2)
    note: str = ""


GRIDS = {
    # A lent H200 (scripts/yardstick_gpu.sh): yolov5n's front through 4 sizes, ours at 320 and at the size
    # that costs about what yolov5n@320 costs, the slim-neck candidates likewise; 3 seeds each.
    "gpu": Grid(Recipe("yardstick-gpu", train=600, val=500, epochs=20, batch=32, data_imgsz=448),
                (("yolov5n.yaml", 320), ("yolov5n-shufflenetv2.yaml", 320), ("yolov5n.yaml", 256),
                 ("yolov5n-shufflenetv2.yaml", 384), ("yolov5n.yaml", 288), ("yolov5n.yaml", 224),
                 (CANDIDATES[0], 448), (CANDIDATES[1], 416))),
    # 2 CPU cores, at most an hour: the n pair, one size, one seed.
    "cpu": Grid(Recipe("yardstick-cpu", train=1200, val=500, epochs=30, batch=16, data_imgsz=160),
                (("yolov5n.yaml", 160), ("yolov5n-shufflenetv2.yaml", 160)), seeds=(0,)),
    # CI: the machinery in seconds; its runs are far too short to plateau, and say so.
    "smoke": Grid(Recipe("smoke (2 epochs: a machinery check, not a result)", train=8, val=4, epochs=2, batch=4,
                         data_imgsz=64),
                  (("yolov5n.yaml", 64),), seeds=(0,), note="machinery check only: 2 epochs, not a result"),
}


# --- the grid -----------------------------------------------------------------------------------------

def plan(*, grid: str, cfgs: list[str] | None = None, imgsz: list[int] | None = None, seeds: list[int] | None = None,
         epochs: int | None = None, train: int | None = None, val: int | None = None,
         batch: int | None = None) -> tuple[Recipe, list[tuple[str, int, int]], str]:
    """The recipe and the (cfg, imgsz, seed) runs asked for: the ``grid``'s, narrowed to (or extended by)
    ``cfgs`` and ``imgsz``, with ``seeds`` and the recipe's epochs, train, val and batch replaced where given."""
    grid = GRIDS[grid]
    changes = {k: v for k, v in (("epochs", epochs), ("train", train), ("val", val), ("batch", batch)) if v}
    recipe = replace(grid.recipe, **changes)
    if changes:
        recipe = replace(recipe, name=f"{recipe.name} ({', '.join(f'{k} {v}' for k, v in changes.items())})")
    points = list(grid.points)
    if cfgs:
        known = [p for p in points if p[0] in cfgs or Path(p[0]).name in cfgs]
        points = known or [(c, s) for c in cfgs for s in (imgsz or sorted({s for _, s in grid.points}))]
    if imgsz:
        points = [p for p in points if p[1] in imgsz] or [(c, s) for c in dict.fromkeys(c for c, _ in points)
                                                          for s in imgsz]
    if max(s for _, s in points) > recipe.data_imgsz:
        recipe = replace(recipe, data_imgsz=max(s for _, s in points))  # data at the largest size trained at
    seeds = tuple(dict.fromkeys(seeds)) if seeds else grid.seeds
    runs = [(c, s, seed) for c, s in points for seed in seeds]  # in the grid's order of priority, all seeds each
    return recipe, runs, grid.note


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def recipe_json(recipe: Recipe) -> dict:
    """The recipe as a row stores it (through JSON, so that it compares equal to one read from a table)."""
    return json.loads(json.dumps(recipe.as_dict()))


def make_jobs(work: Path, recipe: Recipe, runs: list[tuple[str, int, int]]) -> list[Job]:
    """One job per run, each with a folder and log named by (recipe, config, size, seed), never by the time:
    the same grid run again finds them."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", recipe.name).strip("-")[:40]
    tag = f"{slug}-{_digest(json.dumps(recipe_json(recipe), sort_keys=True))}"  # another recipe: other folders
    jobs = []
    for c, s, seed in runs:
        stem = Path(c).stem
        if len({c2 for c2, _, _ in runs if Path(c2).stem == stem}) > 1:
            stem = f"{stem}-{_digest(c, 6)}"  # two configs of one name from different folders
        name = f"{stem}_{s}_s{seed}"
        jobs.append(Job(c, s, seed, work / "runs" / tag / name, work / "logs" / tag / f"{name}.log"))
    return jobs


# --- rows ---------------------------------------------------------------------------------------------

ROW_TYPES = {"cfg": str, "imgsz": int, "seed": int, "epochs": int, "mAP50": float, "mAP50-95": float, "curve": list,
             "plateaued": bool, "device": str, "recipe": dict}


def device_label(device: str | None, threads: int | None) -> str:
    import torch

    from .timing import device_name

    if device != "cpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ({os.cpu_count()} CPU cores)"
    return f"{device_name()}, {threads or torch.get_num_threads()} threads"


def row_of(job: Job, recipe: Recipe, device: str) -> tuple[dict | None, str]:
    """The reported row of a finished run, or (None, why it is not reported)."""
    from .learning import read_results

    run = job.project / "exp"
    ok, why = finished(run if run.is_dir() else None, recipe.epochs, job.returncode)
    if not ok:
        return None, why
    curve, curve50 = read_curve(run)
    best = read_results(run)
    flat, note = plateau(curve)
    return {"cfg": job.cfg, "imgsz": job.imgsz, "seed": job.seed, "epochs": len(curve), "mAP50": best["mAP50"],
            "mAP50-95": best["mAP50-95"], "final_mAP50-95": curve[-1], "curve": [round(v, 5) for v in curve],
            "curve_mAP50": [round(v, 5) for v in curve50], "plateaued": flat, "plateau_note": note,
            "train_s": round(job.ended - job.started, 1), "device": device, "recipe": recipe.as_dict()}, ""


def row_key(r: dict) -> tuple:
    """What makes a row one run: (cfg, imgsz, seed, recipe name)."""
    return r["cfg"], r["imgsz"], r["seed"], r["recipe"]["name"]


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Earlier rows, with those of the same (cfg, imgsz, seed, recipe name) replaced by the new ones."""
    fresh = {row_key(r) for r in new}
    return [r for r in old if row_key(r) not in fresh] + new


def _row_problem(r) -> str:
    if not isinstance(r, dict):
        return "not a JSON object"
    for k, t in ROW_TYPES.items():
        v = r.get(k)
        if k not in r:
            return f"no {k!r}"
        ok = (isinstance(v, (int, float)) and math.isfinite(v) if t is float else isinstance(v, t))
        if not ok or (t is not bool and isinstance(v, bool)):
            return f"{k!r} is {v!r}, not {'a number' if t is float else t.__name__}"
    if not r["curve"] or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in r["curve"]):
        return "'curve' is not a non-empty list of numbers"
    if not isinstance(r["recipe"].get("name"), str):
        return "its recipe has no 'name'"
    return ""


def check_rows(rows, source) -> list[dict]:
    """``rows`` when every one is a row the report and ``pick`` can read; else one line naming ``source`` and
    the first bad row (raised before anything is written)."""
    if not isinstance(rows, list):
        raise UserError(f"{source}: not a yardstick table (its 'rows' is not a list)")
    for i, r in enumerate(rows, 1):
        why = _row_problem(r)
        if why:
            raise UserError(f"{source}: row {i} is not a yardstick row: {why}; nothing was written")
    return rows


def table_rows(table, source) -> list[dict]:
    """The checked rows of a yardstick table as read from JSON (None: no table yet)."""
    if table is None:
        return []
    if not isinstance(table, dict) or "rows" not in table:
        raise UserError(f"{source}: not a yardstick table (no 'rows'); nothing was written")
    return check_rows(table["rows"], source)


def load_rows(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    try:
        with user_path("yardstick table", path):
            table = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise UserError(f"{path}: not a yardstick table ({e}); nothing was written") from None
    return table_rows(table, path)


def record(table: Path, new: list[dict], out: Path, bench: Path | None, ship: bool, quiet: bool = False) -> list[dict]:
    """Merge ``new`` into ``table`` under its lock (re-read, merged, checked, written whole) and rewrite the
    report from what it now holds; rows another process added meanwhile stay. Returns the table's rows."""
    from .yardstick_report import write_report

    with locked(table):
        rows = update_json(table, lambda old: {**(old or {}), "rows": merge_rows(table_rows(old, table), new)},
                           lambda t: check_rows(t["rows"], table))["rows"]
        write_report(rows, Path(out), bench, ship=ship, quiet=quiet)  # after the table: a run is never lost to it
    return rows


# --- resuming -----------------------------------------------------------------------------------------

def recover(job: Job, recipe: Recipe, device: str) -> dict | None:
    """The row of a run that finished (``finished.json``) but whose row never reached the table, else None."""
    try:
        done = json.loads((job.project / FINISHED).read_text())
        job.returncode, job.started, job.ended = 0, 0.0, float(done["train_s"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return row_of(job, recipe, device)[0]


def claim(jobs: list[Job], stack: ExitStack) -> tuple[list[Job], list[Job]]:
    """Lock each job's folder for this yardstick (held until ``stack`` closes); (claimed, held by another)."""
    mine, theirs = [], []
    for j in jobs:
        try:
            stack.enter_context(locked(j.project, wait=False))
            mine.append(j)
        except Busy:
            theirs.append(j)
    return mine, theirs


def clear_dead(job: Job) -> None:
    """An unfinished run's folder (a killed or stopped yardstick's): removed, the run starts from scratch."""
    if job.project.exists():
        print(f"  {job.label}: did not finish last time; removing {job.project} and starting it again", flush=True)
        shutil.rmtree(job.project)


def estimate(rows: list[dict], recipe: Recipe, jobs: list[Job], parallel: int) -> str:
    """The time the jobs should take, from the recorded train_s of earlier rows of the same recipe (seconds an
    epoch, scaled by pixels); what the progress lines will refine."""
    same = [r for r in rows if r["recipe"] == recipe_json(recipe) and r.get("train_s") and r["epochs"]]
    if not same:
        return "no earlier run of this recipe to estimate from: the progress lines give the time left"
    per_px = sum(r["train_s"] / r["epochs"] / r["imgsz"] ** 2 for r in same) / len(same)
    total = sum(per_px * j.imgsz ** 2 * recipe.epochs for j in jobs) / min(parallel, len(jobs))
    epoch_s = sum(r["train_s"] / r["epochs"] for r in same) / len(same)
    sizes = "/".join(map(str, sorted({r["imgsz"] for r in same})))
    return (f"estimate: about {total / 60:.1f} min, {parallel} at a time ({len(same)} earlier runs of this recipe "
            f"took {epoch_s:.1f} s an epoch on average, at {sizes} px)")


# --- the command --------------------------------------------------------------------------------------

def _check(out: Path, bench: Path | None, deadline_min: float | None) -> None:
    check_out_folder(out)
    if bench is not None and not Path(bench).is_file():
        raise UserError(f"--bench {bench}: no such file")
    if deadline_min is not None and deadline_min <= 0:
        raise UserError(f"--deadline-min must be a positive number of minutes, got {deadline_min}")


def check_cfgs(cfgs) -> None:
    """Every config is ours, the host's own (yolov5n ...) or a file: refused now, not after the data is made."""
    from ..hosts import host_for

    for c in dict.fromkeys(cfgs):
        host = host_for(c)
        if host.knows_config(c):
            continue
        try:
            host.resolve_config(c)
        except FileNotFoundError as e:
            raise UserError(f"--cfgs {c}: {e}") from None


def _report_only(table: Path, add: list[Path] | None, out: Path, bench: Path | None, ship: bool) -> int:
    """Train nothing: merge ``add``'s rows into ``table`` (when given) and rewrite the report. Every file is read
    and checked before anything is written, and the table is written last."""
    from .yardstick_report import write_report

    new = []
    for f in add or ():
        if not Path(f).is_file():
            raise UserError(f"--add {f}: no such file")
        new = merge_rows(new, load_rows(f))
    with locked(table):
        rows = merge_rows(load_rows(table), new)
        write_report(rows, Path(out), bench, ship=ship)
        if add:
            update_json(table, lambda old: {**(old or {}), "rows": rows})
    return 0


def _resume(jobs: list[Job], old: list[dict], recipe: Recipe, table: Path, device: str, record_rows) -> list[Job]:
    """The jobs still to train: those with a row of this recipe in the table are skipped, a finished run whose row
    is missing is recovered from its folder, and an unfinished one's folder is cleared."""
    have = {row_key(r) for r in old if r["recipe"] == recipe_json(recipe)}
    todo = [j for j in jobs if (j.cfg, j.imgsz, j.seed, recipe.name) not in have]
    if len(todo) < len(jobs):
        print(f"skipping {len(jobs) - len(todo)} finished runs: their rows are in {table}", flush=True)
    found = {id(j): row for j in todo if (row := recover(j, recipe, device))}
    if found:
        print(f"recovered {len(found)} finished runs whose rows were not written yet, from their folders", flush=True)
        record_rows(list(found.values()))
    todo = [j for j in todo if id(j) not in found]
    for j in todo:
        clear_dead(j)
    return todo


def run_yardstick(*, grid: str, cfgs: list[str] | None = None, imgsz: list[int] | None = None,
                  seeds: list[int] | None = None, epochs: int | None = None, train: int | None = None,
                  val: int | None = None, batch: int | None = None, parallel: int, options: RunOptions,
                  deadline_min: float | None = None, workdir: Path, out: Path, bench: Path | None = None,
                  vendor: bool = True, report_only: bool = False, add: list[Path] | None = None,
                  ship: bool = False) -> int:
    """Train the runs :func:`plan` makes of ``grid`` .. ``batch`` that ``out``/yardstick.json lacks, ``parallel``
    at a time (each started with ``options``; stopped after ``deadline_min``), data and runs under ``workdir``;
    merge each finished run's row into the table as it ends and rewrite the report (with ``bench``'s front plot;
    ``ship``: into the package's table too). ``vendor`` False: third_party/yolov5 as it is. ``report_only``:
    train nothing, merge ``add``."""
    _check(out, bench, deadline_min)
    table = Path(out) / "yardstick.json"
    old = load_rows(table)
    if report_only:
        return _report_only(table, add, out, bench, ship)
    recipe, runs, note = plan(grid=grid, cfgs=cfgs, imgsz=imgsz, seeds=seeds, epochs=epochs, train=train, val=val,
                              batch=batch)
    check_cfgs(c for c, _, _ in runs)
    print(f"yardstick: {len(runs)} runs ({recipe.epochs} epochs, {recipe.train} train / {recipe.val} val images "
          f"generated at {recipe.data_imgsz} px), {parallel} at a time" + (f"; {note}" if note else ""), flush=True)
    work = Path(workdir).resolve()
    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}  # runs stop with us
    try:
        with ExitStack() as stack:
            return _train_grid(make_jobs(work, recipe, runs), stack, recipe, options, parallel=parallel,
                               deadline_min=deadline_min, work=work, table=table, old=old, report=(out, bench, ship),
                               vendor=vendor)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _train_grid(jobs: list[Job], stack: ExitStack, recipe: Recipe, options: RunOptions, *, parallel: int,
                deadline_min: float | None, work: Path, table: Path, old: list[dict], report: tuple,
                vendor: bool) -> int:
    """Claim the jobs' folders, skip or recover what is done, make the data, train the rest; each row recorded
    as its run ends."""
    from ..host_scripts import ensure_tree

    jobs, theirs = claim(jobs, stack)
    if theirs:
        print(f"{len(theirs)} runs are being trained by another yardstick now; leaving them to it: "
              f"{', '.join(j.label for j in theirs)}", flush=True)
    device = device_label(options.device, options.threads)
    recorded: list[Job] = []
    todo = _resume(jobs, old, recipe, table, device, lambda rows: record(table, rows, *report, quiet=True))
    print(estimate(old, recipe, todo, parallel) if todo else "nothing left to train", flush=True)
    if not todo:
        return 0
    from ..dataset import Scene, make_dataset

    ensure_tree(vendor=vendor)
    folder = work / f"data-{recipe.data_imgsz}-{recipe.train}-{recipe.val}"
    with locked(folder):  # two yardsticks of one recipe: the second reuses the first's data
        data = make_dataset(folder, recipe.train, recipe.val, recipe.data_imgsz, seed=0, scene=Scene(**recipe.scene))

    def on_end(job: Job) -> None:
        row = row_of(job, recipe, device)[0]
        if row:
            n = len(record(table, [row], *report, quiet=True))
            recorded.append(job)
            print(f"  row written: {job.label}, mAP50-95 {row['mAP50-95']:.3f}; {table} holds {n} rows", flush=True)

    run_jobs(todo, data, recipe, options, parallel=parallel, deadline_min=deadline_min, on_end=on_end)
    for j in todo:
        if j not in recorded:
            print(f"not reported, did not finish its schedule: {j.label}: {row_of(j, recipe, device)[1]} "
                  f"(log {j.log})", flush=True)
    if not recorded:
        raise UserError(f"none of the {len(todo)} runs finished its schedule (lines above; logs in "
                        f"{todo[0].log.parent}); nothing written")
    out, bench, ship = report
    record(table, [], out, bench, ship)  # the final table, printed
    print(f"{len(recorded)} of {len(todo)} runs finished their schedule and are reported in {table}", flush=True)
    return 0

