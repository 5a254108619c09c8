"""``yolov5-shuffle learn``: train every s-config and the yolov5n/yolov5s baselines the same way, one table.

Same data, epochs, image size, batch and seed for all; mAP is the best epoch's from YOLOv5's own
results.csv; parameters from the trained checkpoint; train time is wall-clock for train.py.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import torch

from .timing import device_name
from ..dataset import make_dataset
from ..hosts.runs import SHORT_RUN, YOLOv5Error, ensure_yolov5, train

DEFAULT_CFGS = ("yolov5s-shufflenetv2.yaml", "yolov5s-mobilenetv2.yaml", "yolov5s-dwconv.yaml",
                "yolov5-lite-s.yaml", "yolov5n.yaml", "yolov5s.yaml")


def read_results(run: Path) -> dict:
    """Best-epoch mAP50 / mAP50-95 and the final losses from a run's results.csv."""
    rows = list(csv.DictReader((run / "results.csv").open()))
    if not rows:
        raise YOLOv5Error(f"{run}/results.csv: no epochs recorded")
    rows = [{k.strip(): float(v) for k, v in r.items()} for r in rows]
    best = max(rows, key=lambda r: 0.1 * r["metrics/mAP_0.5"] + 0.9 * r["metrics/mAP_0.5:0.95"])  # YOLOv5 fitness
    last = rows[-1]
    return {"epochs": len(rows), "mAP50": best["metrics/mAP_0.5"], "mAP50-95": best["metrics/mAP_0.5:0.95"],
            "final_losses": {k: last[k] for k in ("train/box_loss", "train/obj_loss", "train/cls_loss")}}


def count_params(weights: Path) -> int:
    model = torch.load(weights, map_location="cpu", weights_only=False)["model"]
    return sum(p.numel() for p in model.parameters())


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| config | params | mAP50 | mAP50-95 | train time (s) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['cfg']} | {r['params']:,} | {r['mAP50']:.3f} | {r['mAP50-95']:.3f} | {r['train_s']:.0f} |")
    return "\n".join(lines)


def run_learning(a) -> int:
    cfgs = a.cfgs or list(DEFAULT_CFGS)
    work = Path(a.workdir).resolve()
    try:
        root = ensure_yolov5()
        data = make_dataset(work / "data", a.train, a.val, a.imgsz, seed=0)
        rows = []
        for i, cfg in enumerate(cfgs, 1):
            print(f"\n[{i}/{len(cfgs)}] training {cfg}", flush=True)
            t0 = time.perf_counter()
            run = train(root, cfg, data, a.epochs, a.imgsz, work / "runs", batch=a.batch, extra=["--seed", "0", *SHORT_RUN])
            dt = time.perf_counter() - t0
            rows.append({"cfg": cfg, "params": count_params(run / "weights" / "best.pt"), "train_s": dt,
                         "run": str(run), **read_results(run)})
    except OSError as e:
        raise YOLOv5Error(str(e)) from e
    header = (f"{a.epochs} epochs, {a.train} train / {a.val} val generated images at {a.imgsz} px, batch {a.batch}, "
              "AdamW + hyps/hyp.demo.yaml, "
              f"from scratch; {device_name()}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}")
    table = markdown(rows, header)
    print("\n" + table)
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "learning.md").write_text(table + "\n")
        (out / "learning.json").write_text(json.dumps({"setup": header, "rows": rows}, indent=1))
        print(f"wrote {out / 'learning.md'} and {out / 'learning.json'}")
    return 0
