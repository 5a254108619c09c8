"""``yolov5-shuffle learn``: train a group of configs and their baselines the same way, one table.

Same data, epochs, image size, batch, seeds and recipe (AdamW + ``hyps/hyp.demo.yaml``) for all; mAP is
the best epoch's from the host's own results.csv (with several ``--seeds``, one run per seed and the mean
with its spread beside it: one 20-epoch run on 50 validation images moves mAP50 by a few hundredths);
parameters from the trained checkpoint; train time is wall-clock for the host's training, on the GPU
where there is one (both trainers pick it). Groups: ``s`` (our s-size YOLOv5 configs, yolov5n, yolov5s),
``n`` (our n-size YOLOv5 configs and yolov5n: accuracy beside the speed claims), ``ultralytics``
(YOLO11/YOLOv8 with our backbones beside the stock yolo11n/yolov8n, trained by the ultralytics package
with the same optimiser, learning rate, warm-up and augmentation).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import torch

from .timing import device_name
from ..dataset import make_dataset
from ..errors import UserError, user_path
from ..host_scripts import ScriptError, train_from_scratch

GROUPS = {
    "s": ("yolov5s-shufflenetv2.yaml", "yolov5s-mobilenetv2.yaml", "yolov5s-dwconv.yaml", "yolov5-lite-s.yaml",
          "yolov5n.yaml", "yolov5s.yaml"),
    "n": ("yolov5n-shufflenetv2.yaml", "yolov5n-mobilenetv2.yaml", "yolov5n-dwconv.yaml", "yolov5n.yaml"),
    "ultralytics": ("yolo11n-shufflenetv2.yaml", "yolo11n-mobilenetv2.yaml", "yolov8n-shufflenetv2.yaml",
                    "yolo11n.yaml", "yolov8n.yaml"),
}
DEFAULT_CFGS = GROUPS["s"]
HYP = Path(__file__).resolve().parent.parent / "hyps" / "hyp.demo.yaml"


# The mAP columns of the two results.csv layouts the trainers write (YOLOv5-style trees; the ultralytics package).
MAP_COLUMNS = (("metrics/mAP_0.5", "metrics/mAP_0.5:0.95"), ("metrics/mAP50(B)", "metrics/mAP50-95(B)"))


def read_results(run: Path) -> dict:
    """Best-epoch mAP50 / mAP50-95 (best by the trainers' fitness, 0.1 mAP50 + 0.9 mAP50-95) and the final
    training losses from a run's results.csv, in either layout of :data:`MAP_COLUMNS`."""
    rows = [{k.strip(): float(v) for k, v in r.items()} for r in csv.DictReader((run / "results.csv").open())]
    if not rows:
        raise ScriptError(f"{run}/results.csv: no epochs recorded")
    m50, m5095 = next((c for c in MAP_COLUMNS if c[0] in rows[0]), MAP_COLUMNS[0])
    best = max(rows, key=lambda r: 0.1 * r[m50] + 0.9 * r[m5095])
    return {"epochs": len(rows), "mAP50": best[m50], "mAP50-95": best[m5095],
            "final_losses": {k: v for k, v in rows[-1].items() if k.startswith("train/")}}


def count_params(weights: Path) -> int:
    from ..hosts import read_checkpoint

    ckpt = read_checkpoint(weights)
    model = ckpt.get("ema") or ckpt["model"]
    return sum(p.numel() for p in model.parameters())


def markdown(rows: list[dict], header: str) -> str:
    """One line a run; with several seeds, a table of per-config means (and min-max) under it."""
    seeds = len({r.get("seed", 0) for r in rows}) > 1
    lines = [header, "", f"| config |{' seed |' if seeds else ''} params | mAP50 | mAP50-95 | train time (s) |",
             f"|---|{'---:|' if seeds else ''}---:|---:|---:|---:|"]
    for r in rows:
        seed = f" {r.get('seed', 0)} |" if seeds else ""
        lines.append(f"| {r['cfg']} |{seed} {r['params']:,} | {r['mAP50']:.3f} | {r['mAP50-95']:.3f} "
                     f"| {r['train_s']:.0f} |")
    if seeds:
        lines += ["", "| config | runs | mAP50 mean (min-max) | mAP50-95 mean (min-max) |", "|---|---:|---:|---:|"]
        for s in summarise(rows):
            lines.append(f"| {s['cfg']} | {s['runs']} | {s['mAP50']:.3f} ({s['mAP50_min']:.3f}-{s['mAP50_max']:.3f}) "
                         f"| {s['mAP50-95']:.3f} ({s['mAP50-95_min']:.3f}-{s['mAP50-95_max']:.3f}) |")
    return "\n".join(lines)


def summarise(rows: list[dict]) -> list[dict]:
    """Per config, in first-seen order: the number of runs and the mean, min and max of mAP50 and mAP50-95
    (of those the rows have)."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["cfg"], []).append(r)
    out = []
    for cfg, rs in by.items():
        s = {"cfg": cfg, "runs": len(rs)}
        for k in ("mAP50", "mAP50-95"):
            v = [r[k] for r in rs if k in r]
            if not v:
                continue
            s.update({k: sum(v) / len(v), f"{k}_min": min(v), f"{k}_max": max(v)})
        out.append(s)
    return out


def check_learning(cfgs: list[str], out: Path | None, workdir: Path | None = None) -> dict:
    """Refuse what would fail after minutes of work: a config no host resolves, an --out (or --workdir) that is,
    or lies under, a file. Returns config -> its host."""
    from ..hosts import host_for
    from ..outputs import check_out_folder

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"--out {out}: is a file, not a folder; the table would be lost after training")
    for flag, folder in (("--out", out), ("--workdir", workdir)):
        if folder is not None:
            check_out_folder(folder, flag)
    hosts = {}
    for cfg in cfgs:
        hosts[cfg] = host_for(cfg)
        if not hosts[cfg].knows_config(cfg):
            try:
                hosts[cfg].resolve_config(cfg)
            except FileNotFoundError as e:
                raise UserError(str(e)) from None
    return hosts


def run_learning(*, cfgs: list[str] | None, group: str = "s", workdir: Path, epochs: int, train: int, val: int,
                 imgsz: int, batch: int, seeds: list[int] | None = None, out: Path | None = None) -> int:
    """Train ``cfgs`` (default: the ``group``'s) once per seed of ``seeds`` (default 0) on ``train``/``val``
    generated images at ``imgsz`` under ``workdir``, all alike; print the table, and write it (markdown and
    JSON) into ``out`` when given."""
    cfgs = cfgs or list(GROUPS[group])
    hosts = check_learning(cfgs, out, workdir)
    work = Path(workdir).resolve()
    with user_path("--workdir", workdir):  # the data and every run live there: a full disk, no permission
        data = make_dataset(work / "data", train, val, imgsz, seed=0)
        rows = []
        seeds = list(dict.fromkeys(seeds or [0]))
        jobs = [(cfg, seed) for cfg in cfgs for seed in seeds]
        for i, (cfg, seed) in enumerate(jobs, 1):
            print(f"\n[{i}/{len(jobs)}] training {cfg}" + (f", seed {seed}" if len(seeds) > 1 else ""), flush=True)
            t0 = time.perf_counter()
            project = work / ("runs" if "train" in hosts[cfg].scripts else f"runs-{hosts[cfg].name}")
            run = train_from_scratch(cfg, data, epochs, imgsz, project, batch, seed, hyp=HYP)
            results = read_results(run)
            dt = time.perf_counter() - t0
            rows.append({"cfg": cfg, "seed": seed, "params": count_params(run / "weights" / "best.pt"),
                         "train_s": dt, "run": str(run), **results})
    where = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
             else f"{device_name()}, {torch.get_num_threads()} threads")
    header = (f"{epochs} epochs, {train} train / {val} val generated images at {imgsz} px, batch {batch}, "
              f"AdamW + hyps/hyp.demo.yaml, from scratch, seed{'s' if len(seeds) > 1 else ''} "
              f"{', '.join(map(str, seeds))}; {where}, torch {torch.__version__}")
    table = markdown(rows, header)
    print("\n" + table)
    if out:
        with user_path("--out", Path(out)):
            write_tables(Path(out), table, {"setup": header, "rows": rows})
    return 0


def write_tables(out: Path, table: str, data: dict) -> None:
    """learning.md and learning.json, each whole, as a pair: under learning.json's lock, so two runs into one
    ``--out`` leave one run's pair, not a mix."""
    from ..outputs import locked, write_atomically

    out.mkdir(parents=True, exist_ok=True)
    with locked(out / "learning.json"):
        write_atomically(out / "learning.md", table + "\n")
        write_atomically(out / "learning.json", json.dumps(data, indent=1))
    print(f"wrote {out / 'learning.md'} and {out / 'learning.json'}")
