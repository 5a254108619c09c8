"""``yolov5-shuffle learn``: train a group of configs and their baselines alike; a table of mAP."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least, image_size, positive


def add_arguments(p) -> None:
    p.add_argument("--workdir", type=Path, default=Path("demo_runs/learn"),
                   help="generated data and every run go here (default demo_runs/learn)")
    p.add_argument("--epochs", type=positive, default=20, help="epochs per config (default 20)")
    p.add_argument("--train", type=positive, default=400, help="generated training images (default 400)")
    p.add_argument("--val", type=positive, default=50, help="generated validation images (default 50)")
    p.add_argument("--imgsz", type=image_size(64, 2048), default=160, help="train and val image size (default 160)")
    p.add_argument("--batch", type=positive, default=8, help="batch size (default 8)")
    p.add_argument("--group", choices=("s", "n", "ultralytics"), default="s",
                   help="s: our s-size YOLOv5 configs + yolov5n/yolov5s (default); n: our n-size ones + yolov5n; "
                        "ultralytics: YOLO11/YOLOv8 with our backbones + yolo11n/yolov8n")
    p.add_argument("--cfgs", nargs="+", default=None, help="these configs instead of a group")
    p.add_argument("--seeds", type=at_least(0, "a random seed"), nargs="+", default=[0],
                   help="one run per config and seed, and the mean with its min-max (default: 0)")
    p.add_argument("--out", type=Path, default=None, help="write the table (markdown) and JSON here")


def run(args) -> int:
    from ..measure.learning import run_learning

    return run_learning(cfgs=args.cfgs, group=args.group, workdir=args.workdir, epochs=args.epochs, train=args.train,
                        val=args.val, imgsz=args.imgsz, batch=args.batch, seeds=args.seeds, out=args.out)
