"""``yolov5-shuffle dataset``: generate the demo detection dataset (YOLO format)."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import at_least, image_size, positive
from ..errors import user_path


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder for images/, labels/ and data.yaml")
    p.add_argument("--train", type=positive, default=200, help="training images (default 200)")
    p.add_argument("--val", type=positive, default=50, help="validation images (default 50)")
    p.add_argument("--imgsz", type=image_size(64, 2048), default=320,
                   help="image size in pixels, a multiple of 32 from 64 to 2048 (default 320)")
    p.add_argument("--seed", type=at_least(0, "a random seed"), default=0, help="same seed, same images (default 0)")
    p.add_argument("--video", action="store_true", help="also write a short .mp4 of generated scenes")


def run(args) -> int:
    from ..dataset import make_dataset

    with user_path("--out", args.out, inside=True):  # a folder we may not make or write into is the user's to fix
        print(make_dataset(out=args.out, train=args.train, val=args.val, imgsz=args.imgsz, seed=args.seed,
                           video=args.video))
    return 0
