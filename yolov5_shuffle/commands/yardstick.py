"""``yolov5-shuffle yardstick``: a grid of (config, size, seed) on one recipe, each curve checked for a plateau;
the table, the learning curves and the front plot (:mod:`yolov5_shuffle.measure.yardstick`, whose grids give
``--grid`` its choices). Each finished run's row is written as it ends; the same command again resumes."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least, image_size, minutes, positive


def add_arguments(p) -> None:
    from ..measure.yardstick import GRIDS  # dataclasses and tables only: no torch

    p.add_argument("--grid", choices=tuple(GRIDS), default="cpu",
                   help="gpu: the whole grid (lent GPU); cpu: the n pair at 160 px, one seed (2 cores, < 1 h; "
                        "default); smoke: seconds, checks the machinery")
    p.add_argument("--cfgs", nargs="+", default=None, help="only these configs of the grid, or others at --imgsz")
    p.add_argument("--imgsz", nargs="+", type=image_size(), default=None, help="only these sizes")
    p.add_argument("--seeds", nargs="+", type=at_least(0, "a random seed"), default=None, help="instead of the grid's")
    p.add_argument("--epochs", type=positive, default=None, help="instead of the recipe's")
    p.add_argument("--train", type=positive, default=None, help="generated training images, instead of the recipe's")
    p.add_argument("--val", type=positive, default=None, help="generated validation images, instead of the recipe's")
    p.add_argument("--batch", type=positive, default=None, help="instead of the recipe's")
    p.add_argument("--parallel", type=positive, default=1, help="runs side by side (GPU: 8-12; default 1)")
    p.add_argument("--workers", type=at_least(0, "data-loader workers"), default=0,
                   help="data-loader workers per run (default 0; GPU: 1-2)")
    p.add_argument("--threads", type=positive, default=None, help="torch/OpenMP threads per run (default: torch's)")
    p.add_argument("--cache", choices=("ram", "disk", "none"), default="none", help="YOLOv5 --cache (GPU: ram)")
    p.add_argument("--device", default=None, help="train.py --device (default: the GPU where there is one)")
    p.add_argument("--deadline-min", type=minutes, default=None,
                   help="stop runs still going after this many minutes, at least 0.1 (they are listed, not reported)")
    p.add_argument("--workdir", type=Path, default=Path("runs/yardstick"),
                   help="data, runs and logs go here (each run in a folder named by recipe, config, size and seed)")
    p.add_argument("--out", type=Path, default=Path("docs/accuracy"),
                   help="yardstick.json (each finished run's row merged in as it ends), README table and plots go "
                        "here; run the same grid again to skip the rows it has and rerun what did not finish")
    p.add_argument("--bench", type=Path, default=None,
                   help="bench.json from `yolov5-shuffle bench`: adds the mAP50-95-against-latency front plot")
    p.add_argument("--no-vendor", action="store_true",
                   help="use third_party/yolov5 as it is when it is patched (a device machine without network)")
    p.add_argument("--report-only", action="store_true", help="train nothing: rewrite the report from --out")
    p.add_argument("--add", type=Path, nargs="+", default=None,
                   help="with --report-only: merge the rows of these yardstick.json files (e.g. from a GPU run) "
                        "into --out's first")
    p.add_argument("--ship", action="store_true",
                   help="also copy the rows into the package's table (what `pick` reads after pip install)")


def run(args) -> int:
    from ..measure.yardstick import RunOptions, run_yardstick

    return run_yardstick(grid=args.grid, cfgs=args.cfgs, imgsz=args.imgsz, seeds=args.seeds, epochs=args.epochs,
                         train=args.train, val=args.val, batch=args.batch, parallel=args.parallel,
                         options=RunOptions(workers=args.workers, cache=args.cache, device=args.device,
                                            threads=args.threads),
                         deadline_min=args.deadline_min, workdir=args.workdir, out=args.out, bench=args.bench,
                         vendor=not args.no_vendor, report_only=args.report_only, add=args.add, ship=args.ship)
