"""``yolov5-shuffle bench``: measured latency, params and GFLOPs against yolov5n/yolov5s.

The choices of ``--runtimes`` are the runtime registry's (:mod:`yolov5_shuffle.deploy.runtimes`, PyTorch's own modes
included), asked when the parser is built; nothing it asks imports torch."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least, image_size


def add_arguments(p) -> None:
    from ..deploy import runtimes  # the registry only: no runtime package is imported to list the names
    from ..measure.bench import quick_runtimes

    p.add_argument("--cfgs", nargs="+", help="configs to time besides the baselines (default: all of ours)")
    p.add_argument("--imgsz", nargs="+", type=image_size(), default=None,
                   help="input sizes, multiples of 32 from 32 to 4096 (default 320 640)")
    p.add_argument("--runtimes", nargs="+", choices=runtimes.names(), default=None,
                   help="default: every one that can run here (those that cannot are skipped with a line saying "
                        "why); PyTorch's own modes run the model in memory, the others time an export of it")
    p.add_argument("--accuracy", nargs="+", type=Path, default=None,
                   help="learning.json files from `yolov5-shuffle learn --out`: adds mAP50-against-latency plots "
                        "(pareto_<size>.png, one panel per runtime, the Pareto front drawn); a config in several "
                        "files takes the first file's mAP")
    p.add_argument("--calib", type=Path, default=None,
                   help="folder of images to calibrate int8 with (default: generated demo images)")
    p.add_argument("--threads", type=at_least(1, "threads"), default=None,
                   help="torch/ORT intra-op threads, >= 1 (default: torch's)")
    p.add_argument("--reps", type=at_least(1, "timed rounds"), default=None,
                   help="timed rounds per model, >= 1 (default 30; quick 5)")
    p.add_argument("--warmup", type=at_least(0, "untimed runs"), default=3, help="untimed runs per model first, >= 0")
    p.add_argument("--quick", action="store_true", help=f"one config per family, 320 only, {'+'.join(quick_runtimes())}, 5 reps")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess per model")
    p.add_argument("--micro", action="store_true", help="also run the per-block micro-benchmark")
    p.add_argument("--profile", action="store_true", help="also split each model's eager time by kind of operator")
    p.add_argument("--out", type=Path, default=Path("runs/bench"), help="JSON, CSV and plots go here")


def run(args) -> int:
    from ..measure.bench import run_bench

    return run_bench(cfgs=args.cfgs, imgsz=args.imgsz, runtimes=args.runtimes, accuracy=args.accuracy,
                     calib=args.calib, threads=args.threads, reps=args.reps, warmup=args.warmup, out=args.out,
                     quick=args.quick, memory=not args.no_memory, micro=args.micro, profile=args.profile)
