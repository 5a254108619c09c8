"""``yolov5-shuffle export``: a checkpoint to every installed deploy runtime (ONNX Runtime, int8, OpenVINO, ncnn,
TFLite ...), each checked against PyTorch and scored on the val split (:mod:`yolov5_shuffle.deploy.export`)."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least, image_size


def add_arguments(p) -> None:
    from ..deploy import runtimes  # the registry only: no runtime package is imported to list the names

    p.add_argument("--weights", type=Path, required=True, help="a YOLOv5 or YOLOv7 training checkpoint (best.pt)")
    p.add_argument("--to", nargs="+", choices=[r.name for r in runtimes.exportable()], default=None,
                   help="runtimes to export for (default: every one installed here)")
    p.add_argument("--imgsz", type=image_size(), default=640, help="the fixed input size, a multiple of 32")
    p.add_argument("--data", type=Path, default=None,
                   help="data yaml: mAP of each export on its val split, and int8 calibrated on its train split")
    p.add_argument("--calib", type=Path, default=None, help="folder of images to calibrate int8 with")
    p.add_argument("--threads", type=at_least(1, "threads"), default=2,
                   help="CPU threads for every runtime while checking and scoring (default 2)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the exports (default: <weights>_export); one checkpoint and size per folder")


def run(args) -> int:
    from ..deploy.export import export_checkpoint

    return export_checkpoint(weights=args.weights, to=args.to, imgsz=args.imgsz, data=args.data, calib=args.calib,
                             threads=args.threads, out=args.out)
