"""``yolov5-shuffle demo``: set up, make data, patch, train yolov5n-shufflenetv2, print its mAP, detect on images and
a video."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import image_size, positive


def add_arguments(p) -> None:
    p.add_argument("--workdir", type=Path, default=Path("demo_runs"), help="default demo_runs/")
    p.add_argument("--epochs", type=positive, default=20, help="training epochs (default 20)")
    p.add_argument("--train", type=positive, default=1500, help="training images (default 1500)")
    p.add_argument("--val", type=positive, default=100, help="validation images (default 100)")
    p.add_argument("--imgsz", type=image_size(), default=160, help="training size (default 160: CPU speed)")
    p.add_argument("--data-imgsz", type=image_size(64, 2048), default=320,
                   help="size of the generated pictures, and so of the annotated results (default 320)")
    p.add_argument("--batch", type=positive, default=32, help="batch size (default 32)")
    p.add_argument("--cfg", default="yolov5n-shufflenetv2.yaml",
                   help="config to train (default yolov5n-shufflenetv2.yaml)")
    p.add_argument("--no-vendor", action="store_true",
                   help="use third_party/yolov5 as the set-up left it (scripts/demo.sh: it has just run it)")


def run(args) -> int:
    from ..demo import run_demo

    return run_demo(workdir=args.workdir, epochs=args.epochs, train=args.train, val=args.val, imgsz=args.imgsz,
                    data_imgsz=args.data_imgsz, batch=args.batch, cfg=args.cfg, vendor=not args.no_vendor)
