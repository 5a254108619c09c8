"""The yardstick's runs as processes: each its own YOLOv5 ``train.py`` (through :func:`child_main`), started
side by side, stopped at a deadline, and stopped with the yardstick however it ends.

A run's process leads a process group of its own, which its train.py joins, so stopping the run stops
train.py too. The yardstick turns SIGTERM and SIGHUP (a closed terminal, a dropped ssh) into Ctrl-C, which
stops every run before it exits; and each run asks Linux for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), so a yardstick killed with ``kill -9`` takes its runs down too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..outputs import write_atomically

FINISHED = "finished.json"  # in a run's folder: train.py exited 0 (a run whose row was not written yet is kept)


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


def _child_env(threads: int | None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def _start(job: Job, data: Path, recipe: Recipe, options: RunOptions) -> None:
    spec = {"cfg": job.cfg, "imgsz": job.imgsz, "seed": job.seed, "data": str(data), "epochs": recipe.epochs,
            "batch": recipe.batch, "project": str(job.project), "workers": options.workers, "cache": options.cache,
            "device": options.device, "parent": os.getpid()}
    job.project.parent.mkdir(parents=True, exist_ok=True)
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with job.log.open("w") as log:
        job.proc = subprocess.Popen([sys.executable, "-m", "yolov5_shuffle.measure.yardstick_runs", json.dumps(spec)],
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
             deadline_min: float | None = None, poll_s: float = 5.0, report_s: float = 30.0,
             on_end: Callable[[Job], None] | None = None) -> None:
    """At most ``parallel`` jobs at once, in order; ``on_end(job)`` as each one ends; progress every ``report_s``;
    jobs still running ``deadline_min`` minutes after the start are stopped (left with returncode None: not
    finished). Any exception (Ctrl-C, SIGTERM, SIGHUP through :func:`interrupted`) stops every run first."""
    t0, last = time.time(), 0.0
    deadline = t0 + deadline_min * 60 if deadline_min else None
    queue = list(jobs)
    try:
        while queue or any(j.proc and not j.ended for j in jobs):
            for j in [j for j in jobs if j.proc and not j.ended]:
                if j.proc.poll() is not None:
                    j.returncode, j.ended = j.proc.returncode, time.time()
                    print(f"  ended: {j.label}, exit {j.returncode}, {(j.ended - j.started) / 60:.1f} min", flush=True)
                    if on_end is not None:
                        on_end(j)
            if deadline and time.time() > deadline:
                for j in jobs:
                    if j.proc and not j.ended:
                        _stop(j)
                        j.ended = time.time()
                print(f"deadline ({deadline_min} min): stopped the runs still going; "
                      f"{len(queue)} never started", flush=True)
                return
            while queue and sum(1 for j in jobs if j.proc and not j.ended) < parallel:
                job = queue.pop(0)
                _start(job, data, recipe, options)
                print(f"  started: {job.label} ({len(jobs) - len(queue)}/{len(jobs)}), log {job.log}", flush=True)
            if time.time() - last >= report_s:
                print(_progress(jobs, recipe, t0), flush=True)
                last = time.time()
            time.sleep(poll_s)
    except BaseException:
        for j in jobs:
            _stop(j)
        raise


def interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGTERM when the process that started this one dies (a ``kill -9`` of the yardstick
    included), and go at once if it is already gone. Elsewhere: nothing (Ctrl-C, SIGTERM and SIGHUP of the
    yardstick still stop its runs)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request: no signal will come
        _stop_group(signal.SIGTERM, None)


def _stop_group(signum, frame):
    """This run's train.py is in this process's group (the yardstick started it in a session of its own):
    it stops with it."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    finally:
        os._exit(128 + signum)


def child_main(spec: dict) -> int:
    """One run, in its own process (so that runs go side by side): the tree's train.py through host_scripts.train.
    It stops when its parent does; ``finished.json`` in its folder says that train.py ended well."""
    from ..host_scripts import SHORT_RUN, VENDORED, train

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _stop_group)
    if spec.get("parent"):
        _die_with_parent(spec["parent"])
    t0 = time.time()
    extra = ["--seed", str(spec["seed"]), *SHORT_RUN, "--workers", str(spec["workers"]), "--noplots"]
    if spec["cache"] != "none":
        extra += ["--cache", spec["cache"]]
    if spec.get("device"):
        extra += ["--device", spec["device"]]
    run = train(VENDORED, spec["cfg"], Path(spec["data"]), spec["epochs"], spec["imgsz"], Path(spec["project"]),
                batch=spec["batch"], extra=extra)
    write_atomically(Path(spec["project"]) / FINISHED, json.dumps({"run": str(run), "train_s": time.time() - t0}))
    print(f"run folder: {run}")
    return 0


if __name__ == "__main__":
    sys.exit(child_main(json.loads(sys.argv[1])))
