"""``yolov5-shuffle pick --budget-ms MS``: the most accurate (config, size, runtime) within a latency budget,
timed on this machine (:mod:`yolov5_shuffle.measure.pick`); ``--runtimes`` takes any registered runtime."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least, image_size, milliseconds


def add_arguments(p) -> None:
    from ..deploy import runtimes as deploy_runtimes
    from ..measure.pick import default_runtimes  # the registry's attributes only: no torch

    p.add_argument("--budget-ms", type=milliseconds, required=True, help="latency budget per image, ms (batch 1)")
    p.add_argument("--runtimes", nargs="+", choices=deploy_runtimes.names(), default=None,
                   help=f"runtimes to time each candidate in (default: those of {', '.join(default_runtimes())} "
                        "installed here); int8/fp16 ones change accuracy, which the table does not know")
    p.add_argument("--threads", type=at_least(1, "threads"), default=None, help="threads (default: torch's)")
    p.add_argument("--configs", nargs="+", default=None,
                   help="only these configs of the accuracy table (names, or the paths an --accuracy file names)")
    p.add_argument("--imgsz", nargs="+", type=image_size(), default=None, help="only these input sizes")
    p.add_argument("--accuracy", type=Path, default=None,
                   help="yardstick.json or learning.json (`learn --out`) with your own results, instead of the "
                        "shipped yardstick table; every row is checked. Its configs are built when they are ours or "
                        "the host's own (yolov5n-shufflenetv2.yaml, yolov5n.yaml); a config file it names by path "
                        "only when you name that file with --configs too (otherwise skipped, with a line)")
    p.add_argument("--reps", type=at_least(1, "timed rounds"), default=20, help="timed rounds per candidate (20)")
    p.add_argument("--warmup", type=at_least(0, "untimed runs"), default=3, help="untimed runs first (3)")


def run(args) -> int:
    from ..measure.pick import run_pick

    return run_pick(budget_ms=args.budget_ms, runtimes=args.runtimes, threads=args.threads, configs=args.configs,
                    imgsz=args.imgsz, accuracy=args.accuracy, reps=args.reps, warmup=args.warmup)
