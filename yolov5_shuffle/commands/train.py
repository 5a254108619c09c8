"""``yolov5-shuffle train``: train.py in the vendored YOLOv5, checking config and data first."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import image_size, positive


def add_arguments(p) -> None:
    p.add_argument("--cfg", required=True, help="config name (ours or YOLOv5's) or path")
    p.add_argument("--data", type=Path, required=True, help="YOLO data yaml")
    p.add_argument("--weights", default="", help="initial weights (default: from scratch)")
    p.add_argument("--epochs", type=positive, default=100, help="default 100")
    p.add_argument("--imgsz", type=image_size(), default=640, help="train and val size (default 640)")
    p.add_argument("--batch-size", type=positive, default=16, help="default 16")
    p.add_argument("--project", type=Path, default=Path("runs/train"), help="runs go to PROJECT/exp, exp2, ...")


def run(args) -> int:
    from ..host_scripts import train

    # root=None: every input is checked first, then the vendored YOLOv5 is made ready
    result = train(root=None, cfg=args.cfg, data=args.data, epochs=args.epochs, imgsz=args.imgsz,
                   project=args.project, batch=args.batch_size, weights=args.weights)
    print(f"results: {result}")
    return 0
