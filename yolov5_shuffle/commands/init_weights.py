"""``yolov5-shuffle init-weights``: load torchvision ImageNet weights into a config's backbone."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least


def add_arguments(p) -> None:
    p.add_argument("--cfg", required=True, help="config name or path, e.g. yolov5s-shufflenetv2.yaml")
    p.add_argument("--torchvision-weights", type=Path, required=True, help="torchvision state dict (.pth)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint for train.py --weights")
    p.add_argument("--nc", type=at_least(1, "number of classes"), default=None,
                   help="number of classes, >= 1 (default: the config's)")


def run(args) -> int:
    from ..weights import init_weights

    init_weights(cfg=args.cfg, tv_weights=args.torchvision_weights, out=args.out, nc=args.nc)
    return 0
