"""``yolov5-shuffle detect``: a .pt checkpoint through the vendored YOLOv5's detect.py, or an exported model
(ONNX, int8, OpenVINO, ncnn, TFLite) through its own runtime; unreadable images and videos are skipped."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import fraction, image_size


def add_arguments(p) -> None:
    p.add_argument("--weights", type=Path, required=True,
                   help="a .pt checkpoint (run by YOLOv5's detect.py), or an exported model from `export`: "
                        ".onnx (fp32 or int8), OpenVINO or ncnn folder, .tflite (run by its runtime)")
    p.add_argument("--source", type=Path, required=True, help="image, folder of images/videos, or video")
    p.add_argument("--imgsz", type=image_size(), default=None,
                   help="inference size (default 640; an exported model's own size from its metadata.yaml)")
    p.add_argument("--conf", type=fraction, default=0.25, help="confidence threshold, 0..1 (default 0.25)")
    p.add_argument("--project", type=Path, default=Path("runs/detect"), help="results go to PROJECT/NAME")
    p.add_argument("--name", default="exp", help="run name; exp2, exp3, ... when taken")


def run(args) -> int:
    route = detect_checkpoint if args.weights.suffix == ".pt" else detect_exported
    out = route(weights=args.weights, source=args.source, imgsz=args.imgsz, conf=args.conf, project=args.project,
                name=args.name)
    print(f"results: {out}")
    return 0


def detect_checkpoint(weights: Path, source: Path, imgsz: int | None, conf: float, project: Path, name: str) -> Path:
    """YOLOv5's detect.py (640 px unless imgsz); returns the run folder."""
    from ..host_scripts import detect

    # root=None: every input is checked first, then the vendored YOLOv5 is made ready
    return detect(root=None, weights=weights, source=source, imgsz=imgsz or 640, project=project, name=name,
                  extra=["--conf-thres", conf])


def detect_exported(weights: Path, source: Path, imgsz: int | None, conf: float, project: Path, name: str) -> Path:
    """An exported model run by its runtime, not by detect.py (its own size unless imgsz); returns the folder."""
    from ..deploy.exported import run_detect

    return run_detect(weights=weights, source=source, imgsz=imgsz, project=project, name=name, conf=conf).resolve()
