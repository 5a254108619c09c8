"""``yolov5-shuffle yardstick``: an accuracy ruler whose learning curves have flattened before it is read.

The 20-epoch ``learn`` recipe stops every model mid-climb, so one seed moves a result by more than the
differences it is asked to show. The yardstick trains each (config, input size, seed) of a grid with one
recipe (harder generated shapes, validation on >= 500 images, a schedule that ends), each run its own
YOLOv5 ``train.py`` (``--parallel N`` side by side on a GPU), reads every run's per-epoch validation
mAP50-95 from its results.csv, and checks that the curve has plateaued (:func:`.curves.plateau`): the best of the
last quarter of epochs within 0.01 of the run's best, the last quarter's mean within 0.02, over at least
20 epochs. A run that did not finish its schedule (killed, crashed, cut by ``--deadline-min``) is listed
and never reported. Rows go to ``yardstick.json`` (merged with earlier rows of other grids); the table and
plots are written by :mod:`.yardstick_report`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import UserError, user_path
from .curves import finished, plateau, read_curve

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

@dataclass
class Job:
    cfg: str
    imgsz: int
    seed: int
    project: Path
    log: Path
    proc: subprocess.Popen | None = None
    returncode: int | None = None
    started: float = 0.0
    ended: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{Path(self.cfg).stem}@{self.imgsz} seed {self.seed}"


@dataclass(frozen=True)
class RunOptions:
    """How each run's train.py is started: data-loader workers, YOLOv5 ``--cache``, ``--device`` (None: the GPU
    where there is one) and torch/OpenMP threads (None: torch's)."""

    workers: int
    cache: str
    device: str | None = None
    threads: int | None = None


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


def _child_env(threads: int | None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def _start(job: Job, data: Path, recipe: Recipe, options: RunOptions) -> None:
    spec = {"cfg": job.cfg, "imgsz": job.imgsz, "seed": job.seed, "data": str(data), "epochs": recipe.epochs,
            "batch": recipe.batch, "project": str(job.project), "workers": options.workers, "cache": options.cache,
            "device": options.device}
    job.project.parent.mkdir(parents=True, exist_ok=True)
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with job.log.open("w") as log:
        job.proc = subprocess.Popen([sys.executable, "-m", "yolov5_shuffle.measure.yardstick", json.dumps(spec)],
                                    stdout=log, stderr=subprocess.STDOUT, env=_child_env(options.threads),
                                    start_new_session=True)  # its own group: a deadline stops train.py too
    job.started = time.time()


def _stop(job: Job) -> None:
    if job.proc is not None and job.proc.poll() is None:
        try:
            os.killpg(job.proc.pid, signal.SIGTERM)
            job.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(job.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    job.returncode = None


def _epochs_done(job: Job) -> int:
    csv = job.project / "exp" / "results.csv"
    try:
        return max(0, len(csv.read_text().splitlines()) - 1)
    except OSError:
        return 0


def _progress(jobs: list[Job], recipe: Recipe, t0: float) -> str:
    total = len(jobs) * recipe.epochs
    done = sum(recipe.epochs if j.ended else _epochs_done(j) for j in jobs)
    running = [f"{j.label} {_epochs_done(j)}/{recipe.epochs}" for j in jobs if j.proc and not j.ended]
    el = time.time() - t0
    eta = f", about {el / done * (total - done) / 60:.0f} min left" if done else ""
    return (f"[{time.strftime('%H:%M:%S')}] {done}/{total} epochs ({sum(1 for j in jobs if j.ended)}/{len(jobs)} runs "
            f"ended) after {el / 60:.1f} min{eta}; running: {', '.join(running) or '-'}")


def run_jobs(jobs: list[Job], data: Path, recipe: Recipe, options: RunOptions, *, parallel: int,
             deadline_min: float | None = None, poll_s: float = 5.0, report_s: float = 30.0) -> None:
    """At most ``parallel`` jobs at once, in order; progress every ``report_s``; jobs still running
    ``deadline_min`` minutes after the start are stopped (left with returncode None: not finished)."""
    t0, last = time.time(), 0.0
    deadline = t0 + deadline_min * 60 if deadline_min else None
    queue = list(jobs)
    try:
        while queue or any(j.proc and not j.ended for j in jobs):
            running = [j for j in jobs if j.proc and not j.ended]
            for j in running:
                if j.proc.poll() is not None:
                    j.returncode, j.ended = j.proc.returncode, time.time()
                    print(f"  ended: {j.label}, exit {j.returncode}, {(j.ended - j.started) / 60:.1f} min", flush=True)
            if deadline and time.time() > deadline:
                for j in jobs:
                    if j.proc and not j.ended:
                        _stop(j)
                        j.ended = time.time()
                print(f"deadline ({deadline_min} min): stopped the runs still going; "
                      f"{len(queue)} never started", flush=True)
                return
            while queue and sum(1 for j in jobs if j.proc and not j.ended) < parallel:
                _start(queue.pop(0), data, recipe, options)
            if time.time() - last >= report_s:
                print(_progress(jobs, recipe, t0), flush=True)
                last = time.time()
            time.sleep(poll_s)
    except BaseException:
        for j in jobs:
            _stop(j)
        raise


# --- rows ---------------------------------------------------------------------------------------------

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


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Earlier rows, with those of the same (cfg, imgsz, seed, recipe name) replaced by the new ones."""
    def key(r):
        return r["cfg"], r["imgsz"], r["seed"], r["recipe"]["name"]

    fresh = {key(r) for r in new}
    return [r for r in old if key(r) not in fresh] + new


def write_json(path: Path, obj) -> None:
    """Whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def load_rows(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    try:
        with user_path("yardstick table", path):
            rows = json.loads(Path(path).read_text())["rows"]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a yardstick table ({e})") from None
    return rows


# --- the command --------------------------------------------------------------------------------------

def _check(out: Path, bench: Path | None, deadline_min: float | None) -> None:
    from ..outputs import check_out_folder

    check_out_folder(out)
    if bench is not None and not Path(bench).is_file():
        raise UserError(f"--bench {bench}: no such file")
    if deadline_min is not None and deadline_min <= 0:
        raise UserError(f"--deadline-min must be a positive number of minutes, got {deadline_min}")


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


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


def _report_only(table: Path, old: list[dict], add: list[Path] | None, out: Path, bench: Path | None,
                 ship: bool) -> int:
    """Train nothing: merge ``add``'s rows into ``table`` (when given) and rewrite the report."""
    from .yardstick_report import write_report

    for f in add or ():
        if not Path(f).is_file():
            raise UserError(f"--add {f}: no such file")
        old = merge_rows(old, load_rows(f))
    if add:
        write_json(table, {"rows": old})
    write_report(old, Path(out), bench, ship=ship)
    return 0


def run_yardstick(*, grid: str, cfgs: list[str] | None = None, imgsz: list[int] | None = None,
                  seeds: list[int] | None = None, epochs: int | None = None, train: int | None = None,
                  val: int | None = None, batch: int | None = None, parallel: int, options: RunOptions,
                  deadline_min: float | None = None, workdir: Path, out: Path, bench: Path | None = None,
                  vendor: bool = True, report_only: bool = False, add: list[Path] | None = None,
                  ship: bool = False) -> int:
    """Train the runs :func:`plan` makes of ``grid`` .. ``batch``, ``parallel`` at a time (each started with
    ``options``; stopped after ``deadline_min``), data and runs under ``workdir``; merge the finished ones into
    ``out``/yardstick.json and write the report (with ``bench``'s front plot; ``ship``: into the package's
    table too). ``vendor`` False: third_party/yolov5 as it is. ``report_only``: train nothing, merge ``add``."""
    from ..host_scripts import ensure_tree
    from .yardstick_report import write_report

    _check(out, bench, deadline_min)
    table = Path(out) / "yardstick.json"
    old = load_rows(table)
    if report_only:
        return _report_only(table, old, add, out, bench, ship)
    recipe, runs, note = plan(grid=grid, cfgs=cfgs, imgsz=imgsz, seeds=seeds, epochs=epochs, train=train, val=val,
                              batch=batch)
    check_cfgs(c for c, _, _ in runs)
    from ..dataset import Scene, make_dataset

    print(f"yardstick: {len(runs)} runs ({recipe.epochs} epochs, {recipe.train} train / {recipe.val} val images "
          f"generated at {recipe.data_imgsz} px), {parallel} at a time" + (f"; {note}" if note else ""), flush=True)
    work = Path(workdir).resolve()
    ensure_tree(vendor=vendor)
    data = make_dataset(work / f"data-{recipe.data_imgsz}-{recipe.train}-{recipe.val}", recipe.train, recipe.val,
                        recipe.data_imgsz, seed=0, scene=Scene(**recipe.scene))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    jobs = [Job(c, s, seed, work / "runs" / stamp / f"{Path(c).stem}_{s}_s{seed}",
                work / "logs" / stamp / f"{Path(c).stem}_{s}_s{seed}.log") for c, s, seed in runs]
    previous = signal.signal(signal.SIGTERM, _interrupted)  # a killed yardstick stops its runs too
    try:
        run_jobs(jobs, data, recipe, options, parallel=parallel, deadline_min=deadline_min)
    finally:
        signal.signal(signal.SIGTERM, previous)
    device = device_label(options.device, options.threads)
    rows, refused = [], []
    for j in jobs:
        row, why = row_of(j, recipe, device)
        (rows.append(row) if row else refused.append(f"{j.label}: {why} (log {j.log})"))
    for line in refused:
        print(f"not reported, did not finish its schedule: {line}", flush=True)
    if rows:
        write_json(table, {"rows": merge_rows(old, rows)})
        write_report(merge_rows(old, rows), Path(out), bench, ship=ship)
    if not rows:
        raise UserError(f"none of the {len(jobs)} runs finished its schedule (lines above; logs in "
                        f"{work / 'logs' / stamp}); nothing written")
    print(f"{len(rows)} of {len(jobs)} runs finished their schedule and are reported in {table}", flush=True)
    return 0


def child_main(spec: dict) -> int:
    """One run, in its own process (so that runs go side by side): the tree's train.py through host_scripts.train."""
    from ..host_scripts import SHORT_RUN, VENDORED, train

    extra = ["--seed", str(spec["seed"]), *SHORT_RUN, "--workers", str(spec["workers"]), "--noplots"]
    if spec["cache"] != "none":
        extra += ["--cache", spec["cache"]]
    if spec.get("device"):
        extra += ["--device", spec["device"]]
    run = train(VENDORED, spec["cfg"], Path(spec["data"]), spec["epochs"], spec["imgsz"], Path(spec["project"]),
                batch=spec["batch"], extra=extra)
    print(f"run folder: {run}")
    return 0


if __name__ == "__main__":
    sys.exit(child_main(json.loads(sys.argv[1])))
