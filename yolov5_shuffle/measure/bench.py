"""``yolov5-shuffle bench``: measured latency against yolov5n/yolov5s, the ShuffleNetV2 way (not FLOPs).

All configs are built in one process, fused and put in eval mode, then timed interleaved (every model once
a round, in a new seeded order each round) so that machine noise hits all alike; ratios to yolov5n and
yolov5s are taken per round and their median reported. Each runtime times every model, baselines included,
so ratios compare like with like. The runtimes, PyTorch's own modes included, are the registry's
(:mod:`yolov5_shuffle.deploy.runtimes`): this module names none of them.
"""

from __future__ import annotations

import copy
import csv
import json
import platform
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

from ..configs import config_names
from ..deploy import runtimes as deploy_runtimes
from ..outputs import check_out_folder
from ..errors import UserError, user_path
from .timing import ORDER_SEED, device_name, p90, ratio_medians, time_interleaved

BASELINES = ("yolov5n.yaml", "yolov5s.yaml")
QUICK = ("yolov5n-shufflenetv2.yaml", "yolov5n-mobilenetv2.yaml", "yolov5n-dwconv.yaml")


def our_configs() -> tuple[str, ...]:
    """The configs we ship for the baselines' host (``configs.config_names``'s default dialect): bench's default."""
    return tuple(config_names())


def quick_runtimes() -> tuple[str, ...]:
    return tuple(r.name for r in deploy_runtimes.all_runtimes() if r.quick)


def lower_precision() -> tuple[str, ...]:
    """The runtimes that change the numbers (int8, fp16); the fp32 ones do not."""
    return tuple(r.name for r in deploy_runtimes.all_runtimes() if r.precision != "fp32")


def cpu_fp32() -> tuple[str, ...]:
    """The runtimes whose latencies compare with each other as the CPU's fp32 numbers (the accuracy front's)."""
    return tuple(r.name for r in deploy_runtimes.all_runtimes() if r.precision == "fp32" and not r.gpu)


# --- building --------------------------------------------------------------------------------------

def gflops(model, imgsz: int) -> float:
    """GFLOPs as YOLOv5 counts them (thop MACs x 2) at imgsz x imgsz, batch 1."""
    import torch

    import thop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs = thop.profile(copy.deepcopy(model), inputs=(torch.zeros(1, 3, imgsz, imgsz),), verbose=False)[0]
    return macs * 2 / 1e9


# --- runtimes --------------------------------------------------------------------------------------

def make_runner(runtime: str, model, imgsz: int, threads: int, batch: int = 1, calib=None):
    """A no-argument callable that runs one inference of ``model`` in ``runtime`` (a registered name), the same
    way for every runtime: it prepares the model (:meth:`Runtime.load_model`: an export loaded and its file
    removed at once, a compile, a copy on the GPU) and its input (:meth:`Runtime.feed`) here, once."""
    import numpy as np

    rt = deploy_runtimes.by_name(runtime)
    run = rt.load_model(model, imgsz, threads, batch, calib)
    x = rt.feed(np.random.default_rng(0).standard_normal((batch, 3, imgsz, imgsz), dtype=np.float32))
    return lambda: run(x)


def peak_memory_mib(cfg: str, imgsz: int, threads: int) -> float:
    """Peak resident memory (MiB) of a fresh process that builds the fused model and runs one inference.

    Absolute, imports included (torch + YOLOv5 are most of it): the differences between rows are what
    the model costs. (The peak after imports alone can exceed a small model's whole run, so a delta
    against it would read 0.) Linux's ``ru_maxrss`` survives fork+exec, so it would report this parent's
    peak; ``VmHWM`` belongs to the new process image."""
    code = (
        "import resource, sys, torch\n"
        f"torch.set_num_threads({threads})\n"
        "from yolov5_shuffle.hosts import build\n"
        f"m = build({cfg!r})\n"
        "with torch.inference_mode():\n"
        f"    m(torch.zeros(1, 3, {imgsz}, {imgsz}))\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')] if sys.platform == 'linux' else []\n"
        "print(int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"memory probe for {cfg} failed: {r.stderr[-1500:]}")
    return float(r.stdout.strip().splitlines()[-1])


# --- reporting -------------------------------------------------------------------------------------

def runtime_label(row: dict) -> str:
    """A row's runtime as the tables and plots show it: the runtime's name, with the batch where it is not 1."""
    return row["runtime"] if row.get("batch", 1) == 1 else f"{row['runtime']} b{row['batch']}"


def markdown_table(rows: list[dict]) -> str:
    head = ("| config | imgsz | runtime | params (M) | GFLOPs | median ms | p90 ms | x yolov5n | x yolov5s | peak MiB (CPU: process RSS; GPU: allocated) |\n"
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        mem = f"{r['peak_mib']:.0f}" if r.get("peak_mib") is not None else "-"
        rn = f"{r['ratio_yolov5n']:.2f}" if r.get("ratio_yolov5n") is not None else "-"
        rs = f"{r['ratio_yolov5s']:.2f}" if r.get("ratio_yolov5s") is not None else "-"
        lines.append(f"| {r['cfg']} | {r['imgsz']} | {runtime_label(r)} | {r['params'] / 1e6:.2f} | "
                     f"{r['gflops']:.1f} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {rn} | {rs} | {mem} |")
    return "\n".join(lines)


def plot(rows: list[dict], out: Path) -> list[Path]:
    """Latency against GFLOPs and against parameters, one panel per runtime, one file per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for imgsz in sorted({r["imgsz"] for r in rows}):
        sub = [r for r in rows if r["imgsz"] == imgsz]
        runtimes = list(dict.fromkeys(runtime_label(r) for r in sub))
        fig, axes = plt.subplots(2, len(runtimes), figsize=(4.2 * len(runtimes), 7.5), squeeze=False)
        for j, rt in enumerate(runtimes):
            pts = [r for r in sub if runtime_label(r) == rt]
            for i, (key, label) in enumerate((("gflops", "GFLOPs"), ("params", "parameters (M)"))):
                _panel(axes[i][j], [(r[key] / (1e6 if key == "params" else 1), r["median_ms"], r["cfg"]) for r in pts],
                       label, "median latency (ms)", f"{rt}, {imgsz} px")
        files.append(_save(fig, f"Latency is not FLOPs: {device_name()} (squares: YOLOv5 baselines)",
                           out / f"latency_{imgsz}.png"))
    return files


def _panel(ax, points: list[tuple[float, float, str]], xlabel: str, ylabel: str, title: str) -> None:
    """One labelled scatter panel: baselines as red squares, ours as blue dots."""
    for x, y, cfg in points:
        base = cfg in BASELINES
        ax.scatter(x, y, marker="s" if base else "o", color="tab:red" if base else "tab:blue", zorder=2)
        ax.annotate(cfg.replace(".yaml", ""), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)


def _save(fig, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latency, accuracy) points that no other point beats on both (faster and at least as accurate)."""
    front, best = [], float("-inf")
    for ms, m in sorted(points, key=lambda p: (p[0], -p[1])):  # fastest first
        if m > best:
            front.append((ms, m))
            best = m
    return front


def read_accuracy(accuracy_files: list[Path]) -> dict[str, float]:
    """config -> mAP50 from ``learn --out`` JSON files (a config in several files: the first file's runs, their
    mean over seeds); a file that is missing or not such a JSON is refused by name (before any timing)."""
    from .learning import summarise

    acc = {}
    for f in accuracy_files:
        try:
            rows = json.loads(Path(f).read_text())["rows"]
            for s in summarise(rows):
                acc.setdefault(s["cfg"], s["mAP50"])
        except OSError as e:
            raise UserError(f"--accuracy {f}: cannot read it ({e.strerror or e})") from None
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            raise UserError(f"--accuracy {f}: not a learning.json of `yolov5-shuffle learn --out` "
                            "(JSON with a list of rows holding cfg and mAP50)") from None
    return acc


def plot_pareto(rows: list[dict], accuracy_files: list[Path], out: Path) -> list[Path]:
    """mAP50 (from learn) against measured latency, one panel per runtime, one file per size; the
    configs no other config beats on both axes (the Pareto front) are joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = read_accuracy(accuracy_files)
    files = []
    for imgsz in sorted({r["imgsz"] for r in rows}):
        sub = [r for r in rows if r["imgsz"] == imgsz and r["cfg"] in acc]
        runtimes = list(dict.fromkeys(runtime_label(r) for r in sub))
        if not runtimes:
            continue
        fig, axes = plt.subplots(1, len(runtimes), figsize=(4.2 * len(runtimes), 4.2), squeeze=False)
        for ax, rt in zip(axes[0], runtimes):
            pts = sorted(((r["median_ms"], acc[r["cfg"]], r["cfg"]) for r in sub if runtime_label(r) == rt))
            front = pareto_front([(ms, m) for ms, m, _ in pts])
            ax.plot(*zip(*front), color="tab:green", lw=1, zorder=1)
            _panel(ax, pts, "median latency (ms)", "mAP50 (demo validation set)", f"{rt}, {imgsz} px")
        files.append(_save(fig, f"Accuracy against measured latency: {device_name()} (green: Pareto front)",
                           out / f"pareto_{imgsz}.png"))
    return files


# --- main ------------------------------------------------------------------------------------------

def installed_runtimes(runtimes: list[str], asked: bool = True) -> list[str]:
    """The runtimes that can run here; a line for each one skipped and why (the pip package, the device).
    None left: UserError, naming the ``--runtimes`` asked for and why each cannot run."""
    keep, why_not = [], []
    for rt in runtimes:
        ok, why = deploy_runtimes.available(rt)
        if ok:
            keep.append(rt)
        else:
            print(f"skipped runtime {rt}: {why}", flush=True)
            why_not.append(f"{rt}: {why}")
    if not keep:
        flag = f"--runtimes {' '.join(runtimes)}" if asked else "the default runtimes"
        raise UserError(f"{flag}: none can run here ({'; '.join(why_not) or 'none given'})")
    return keep


def _calibration_images(folder: Path | None, runtimes: list[str], work: Path) -> Path | None:
    """Images for the runtimes that calibrate (int8): the given folder, else demo scenes generated in
    ``work`` (never a download)."""
    if not any(deploy_runtimes.by_name(rt).needs_calibration for rt in runtimes):
        return None
    if folder is not None:
        if not Path(folder).is_dir():
            raise UserError(f"--calib {folder}: no such folder")
        return Path(folder)
    from ..dataset import make_dataset

    data = make_dataset(Path(work) / "calib", train=32, val=1, imgsz=320, seed=7)
    return data.parent / "images" / "train"


def best_runtime_table(rows: list[dict], fp32_only: bool = True) -> str:
    """Each model in its own fastest runtime, and the ratio to yolov5n in ITS fastest, per size."""
    kind = "fp32 runtime (int8/fp16 left out: they change accuracy)" if fp32_only else "runtime, int8/fp16 included"
    lines = [f"Each model in its fastest {kind}; batch 1; ratio = its best median / yolov5n's best median",
             "", "| config | imgsz | best runtime | median ms | x yolov5n (best vs best) |", "|---|---:|---|---:|---:|"]
    for imgsz in sorted({r["imgsz"] for r in rows}):
        sub = [r for r in rows if r["imgsz"] == imgsz and r["batch"] == 1
               and not (fp32_only and r["runtime"] in lower_precision())]
        best = {}
        for r in sub:
            if r["cfg"] not in best or r["median_ms"] < best[r["cfg"]]["median_ms"]:
                best[r["cfg"]] = r
        base = best.get("yolov5n.yaml")
        for cfg, r in best.items():
            ratio = f"{r['median_ms'] / base['median_ms']:.2f}" if base else "-"
            lines.append(f"| {cfg} | {imgsz} | {r['runtime']} | {r['median_ms']:.1f} | {ratio} |")
    return "\n".join(lines)


def _progress(label):
    def show(i, n):
        if i == n or i % max(1, n // 5) == 0:
            print(f"  {label}: round {i}/{n}", flush=True)

    return show


def _peak_memory(cfg: str, imgsz: int, threads: int) -> float:
    print(f"  peak memory: {cfg} at {imgsz}", flush=True)
    return peak_memory_mib(cfg, imgsz, threads)


def time_runtime(rt: str, models: dict, imgsz: int, threads: int, calib, reps: int, warmup: int,
                 mem: dict, flops: dict) -> list[dict]:
    """Every model timed in one runtime at one size (at each of the runtime's ``batches``), interleaved; one row
    each. A model that an exporting runtime's converter refuses costs its row, with a line (the baselines must
    run)."""
    runtime, rows = deploy_runtimes.by_name(rt), []
    for batch in runtime.batches:
        shown = runtime_label({"runtime": rt, "batch": batch})
        print(f"[{imgsz} px, {shown}] preparing {len(models)} models", flush=True)
        runners = {}
        for c, m in models.items():
            try:
                runners[c] = make_runner(rt, m, imgsz, threads, batch, calib)
            except RuntimeError as e:  # a converter that cannot take this model: a line, not the end
                if not runtime.exportable or c in BASELINES:
                    raise
                print(f"  skip {c} in {shown}: {str(e).strip().splitlines()[0]}", flush=True)
        times = time_interleaved(runners, reps, warmup, _progress(f"{imgsz} px {shown}"))
        own = runtime.peak_memory_mib(runners)
        peak = mem if own is None else own
        rn, rs = ratio_medians(times, "yolov5n.yaml"), ratio_medians(times, "yolov5s.yaml")
        for c in runners:
            rows.append({"cfg": c, "imgsz": imgsz, "runtime": rt, "batch": batch,
                         "params": sum(p.numel() for p in models[c].parameters()), "gflops": flops[c],
                         "median_ms": statistics.median(times[c]), "p90_ms": p90(times[c]),
                         "ratio_yolov5n": rn.get(c), "ratio_yolov5s": rs.get(c), "peak_mib": peak.get(c),
                         "times_ms": times[c]})
        del runners
    return rows


def write_results(rows: list[dict], info: dict, table: str, out: Path, accuracy) -> Path:
    """bench.json, bench.csv, bench.md and the plots in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    with (out / "bench.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[k for k in rows[0] if k != "times_ms"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (out / "bench.md").write_text(table + "\n")
    pngs = plot(rows, out) + (plot_pareto(rows, accuracy, out) if accuracy else [])
    print(f"\nwrote {out / 'bench.json'}, {out / 'bench.csv'}, {out / 'bench.md'}, {', '.join(map(str, pngs))}")
    return out


def build_models(names: list[str]) -> dict:
    """Each config built (fused, eval) by the host that owns it; every config checked by its host first, so a
    bad row is named before minutes of building."""
    from ..hosts import build, host_for
    from ..hosts.base import HostNotFound

    try:
        for c in names:
            if c not in BASELINES:
                host = host_for(c)
                host.check_config(host.resolve_config(c))
        print(f"building {len(names)} models (fused, eval) ...", flush=True)
        return {c: build(c) for c in names}
    except FileNotFoundError as e:
        raise HostNotFound(str(e)) from e


def run_bench(*, cfgs: list[str] | None, imgsz: list[int] | None, runtimes: list[str] | None,
              threads: int | None, reps: int | None, warmup: int, out: Path, quick: bool = False,
              accuracy: list[Path] | None = None, calib: Path | None = None, memory: bool = True,
              micro: bool = False, profile: bool = False) -> int:
    """Time ``cfgs`` (default: all of ours, or one per family with ``quick``) and the baselines at each of
    ``imgsz`` in each of ``runtimes`` (None: every one installed here), ``reps`` interleaved rounds after
    ``warmup`` untimed runs; tables, JSON, CSV and plots into ``out``. ``accuracy``: learning.json files for
    the Pareto plots; ``calib``: int8 calibration images; ``memory``: peak memory per model (a subprocess
    each); ``micro``/``profile``: the per-block micro-benchmark and the per-operator split too."""
    for flag, v, lo in (("--threads", threads, 1), ("--reps", reps, 1), ("--warmup", warmup, 0)):
        if v is not None and v < lo:  # argparse refuses these too; this is for other callers
            raise UserError(f"{flag} must be >= {lo}, got {v}")
    check_out_folder(out)
    import torch

    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    cfgs = list(cfgs or (QUICK if quick else our_configs()))
    sizes = imgsz or ([320] if quick else [320, 640])
    default = quick_runtimes() if quick else deploy_runtimes.names()
    runtimes = installed_runtimes(list(runtimes or default), asked=runtimes is not None)
    read_accuracy(accuracy or [])
    if calib is not None and not Path(calib).is_dir():
        raise UserError(f"--calib {calib}: no such folder")
    reps = reps or (5 if quick else 30)
    names = list(dict.fromkeys(list(BASELINES) + cfgs))
    models = build_models(names)
    info = {"device": device_name(), "threads": threads, "torch": torch.__version__, "reps": reps,
            "warmup": warmup, "python": platform.python_version(), "order_seed": ORDER_SEED}
    for rt in runtimes:
        info.update(deploy_runtimes.by_name(rt).device_info())
    print(f"device: {info['device']}; torch {info['torch']}, {threads} threads; {reps} interleaved rounds")
    from ..outputs import scratch

    with scratch("yolov5-shuffle-bench") as work:  # int8 calibration images; removed on error and Ctrl-C too
        calib_images = _calibration_images(calib, runtimes, work)
        rows = []
        for size in sizes:
            flops = {c: gflops(m, size) for c, m in models.items()}
            mem = {} if not memory else {c: _peak_memory(c, size, threads) for c in names}
            for rt in runtimes:
                rows += time_runtime(rt, models, size, threads, calib_images, reps, warmup, mem, flops)
    table = "\n\n".join((markdown_table(rows), best_runtime_table(rows), best_runtime_table(rows, fp32_only=False)))
    print(f"\nMeasured on {info['device']}, {threads} threads, torch {info['torch']}; batch 1 unless noted; "
          f"ratios are per-round medians against the baseline timed in the same round.\n")
    print(table)
    with user_path("--out", out):
        out = write_results(rows, info, table, Path(out), accuracy)
    if profile:
        from . import profile as operators

        for size in sizes:
            print(f"profiling {len(names)} models at {size} px", flush=True)
            text = operators.markdown({c: operators.profile_model(m, size) for c, m in models.items()}, size, threads)
            print("\n" + text)
            (out / f"profile_{size}.md").write_text(text + "\n")
    if micro:
        from .microbench import run_micro

        run_micro(reps=reps, threads=threads, out=out)
    return 0
