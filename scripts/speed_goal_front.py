#!/usr/bin/env python3
"""Latency of (config, input size) points in ONE interleaved loop, against yolov5n@320 (issue 18's ruler).

Why a script beside ``bench``: ``bench`` interleaves the models of one (size, runtime) block, so a ratio
between sizes (ours@384 against yolov5n@320) compares blocks timed minutes apart; on a shared 2-core
machine the load moves between blocks (yolov5n@256 once timed 4x faster than yolov5n@320 in the same
bench run). Here every (config, size, runtime) point runs once per round, round after round, and each
point's ratio is the median over rounds of its time / the baseline point's time in that round.
Each runtime gets its own loop (all points of ONNX Runtime, then all points of OpenVINO): with both in one
loop, the first ONNX Runtime point after the OpenVINO ones ran 2x slower (yolov5n@320: 14.1 ms against
7.0 ms when it came fourth; docs/speed-goal/front-2-mixed), and in front-1 OpenVINO's first point after the ONNX
Runtime ones 3-7x faster than the rest: an OpenVINO call leaves the cores busy for the next call.
``yolov5-shuffle pick`` (issue 17) times candidate points the same way; this script only records the
speed-goal screen. Usage:

  .venv/bin/python scripts/speed_goal_front.py --points yolov5n.yaml@320 yolov5n.yaml@256 \\
      docs/speed-goal/X.yaml@384 --runtimes onnxruntime openvino --threads 2 --reps 15 --out DIR
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path


def point(text: str) -> tuple[str, int]:
    cfg, sep, size = text.rpartition("@")
    if not sep or not cfg or not size.isdigit() or int(size) % 32:
        raise argparse.ArgumentTypeError(f"expected CFG@SIZE with SIZE a multiple of 32, got {text!r}")
    return cfg, int(size)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", nargs="+", type=point, required=True, help="CFG@SIZE, e.g. yolov5n.yaml@320")
    p.add_argument("--baseline", type=point, default=("yolov5n.yaml", 320), help="ratios are to this point")
    p.add_argument("--runtimes", nargs="+", default=["onnxruntime", "openvino"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", type=Path, required=True, help="front.json and front.md go here")
    a = p.parse_args(argv)
    if a.baseline not in a.points:
        a.points.insert(0, a.baseline)
    return a


def _progress(i: int, reps: int) -> None:
    if i % 10 == 0:
        print(f"  round {i}/{reps}", flush=True)


def time_points(a) -> tuple[dict, dict]:
    """Runners for every (point, runtime), timed round-robin together; returns times and models."""
    import torch

    from yolov5_shuffle.hosts import build
    from yolov5_shuffle.measure.bench import make_runner
    from yolov5_shuffle.measure.timing import time_interleaved  # a new seeded order each round (front-3)

    torch.set_num_threads(a.threads)
    models = {c: build(c) for c in dict.fromkeys(c for c, _ in a.points)}
    times = {}
    for rt in a.runtimes:  # one loop per runtime: see the module docstring
        runners = {}
        for c, s in a.points:
            print(f"preparing {c}@{s} {rt}", flush=True)
            runners[(c, s, rt)] = make_runner(rt, models[c], s, a.threads)
        print(f"timing {len(runners)} {rt} points x {a.reps} interleaved rounds", flush=True)
        times.update(time_interleaved(runners, a.reps, a.warmup, _progress))
        del runners
    return times, models


def rows_of(a, times: dict, models: dict) -> list[dict]:
    from yolov5_shuffle.measure.bench import gflops

    rows = []
    for (c, s, rt), t in times.items():
        base = times[(*a.baseline, rt)]
        rows.append({"cfg": c, "imgsz": s, "runtime": rt, "median_ms": round(statistics.median(t), 3),
                     "ratio_in_runtime": round(statistics.median(x / b for x, b in zip(t, base)), 3),
                     "params": sum(p.numel() for p in models[c].parameters()),
                     "gflops": round(gflops(models[c], s), 3), "times_ms": [round(x, 3) for x in t]})
    best_base = min(statistics.median(times[(*a.baseline, rt)]) for rt in a.runtimes)
    for r in rows:
        r["ratio_best_vs_best"] = None
    for c, s in a.points:
        best = min((r for r in rows if (r["cfg"], r["imgsz"]) == (c, s)), key=lambda r: r["median_ms"])
        best["best_runtime"] = True
        best["ratio_best_vs_best"] = round(best["median_ms"] / best_base, 3)
    return rows


def markdown(a, rows: list[dict], info: dict) -> str:
    base = f"{Path(a.baseline[0]).name}@{a.baseline[1]}"
    lines = [f"{info['device']}, {info['threads']} threads, torch {info['torch']}, ONNX Runtime {info['onnxruntime']}, "
             f"OpenVINO {info['openvino']}; {info['reps']} rounds, every (config, size) once a round in a random order, one loop per runtime.", "",
             "| config | imgsz | params (M) | GFLOPs | " + " | ".join(f"{rt} ms (x {base})" for rt in a.runtimes)
             + f" | best runtime | best vs best (x {base}) |",
             "|---|---:|---:|---:|" + "---:|" * len(a.runtimes) + "---|---:|"]
    for c, s in a.points:
        mine = {r["runtime"]: r for r in rows if (r["cfg"], r["imgsz"]) == (c, s)}
        best = next(r for r in mine.values() if r.get("best_runtime"))
        cells = " | ".join(f"{mine[rt]['median_ms']:.1f} ({mine[rt]['ratio_in_runtime']:.2f})" for rt in a.runtimes)
        lines.append(f"| {c} | {s} | {best['params'] / 1e6:.2f} | {best['gflops']:.2f} | {cells} | {best['runtime']} "
                     f"| {best['ratio_best_vs_best']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    a = parse(argv)
    import onnxruntime
    import openvino
    import torch

    from yolov5_shuffle.measure.bench import device_name

    times, models = time_points(a)
    info = {"device": device_name(), "threads": a.threads, "torch": torch.__version__, "reps": a.reps,
            "warmup": a.warmup, "onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__.split("-")[0],
            "python": platform.python_version(), "command": " ".join(sys.argv)}
    rows = rows_of(a, times, models)
    text = markdown(a, rows, info)
    print(text)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "front.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1) + "\n")
    (a.out / "front.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
