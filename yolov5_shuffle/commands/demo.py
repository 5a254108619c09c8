"""``yolov5-shuffle demo``: set up, make data, patch, train yolov5s-shufflenetv2, detect."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import image_size, positive


def add_arguments(p) -> None:
    p.add_argument("--workdir", type=Path, default=Path("demo_runs"), help="default demo_runs/")
    p.add_argument("--epochs", type=positive, default=20, help="training epochs (default 20)")
    p.add_argument("--train", type=positive, default=300, help="training images")
    p.add_argument("--val", type=positive, default=50, help="validation images")
    p.add_argument("--imgsz", type=image_size(), default=160, help="training size (default 160: CPU speed)")
    p.add_argument("--data-imgsz", type=image_size(64, 2048), default=320,
                   help="size of the generated pictures, and so of the annotated results (default 320)")
    p.add_argument("--batch", type=positive, default=8, help="batch size (default 8)")
    p.add_argument("--cfg", default="yolov5s-shufflenetv2.yaml",
                   help="config to train (default yolov5s-shufflenetv2.yaml)")


def run(args) -> int:
    from ..demo import run_demo

    return run_demo(args)  # still takes the namespace
