"""``yolov5-shuffle vendor``: materialise a host tree (YOLOv5, YOLOv7) with fixes for today's packages."""

from __future__ import annotations

from pathlib import Path

from ..argtypes import sha256_hex


def add_arguments(p) -> None:
    p.add_argument("--version", default="7.0.14", help="PyPI yolov5 version (default 7.0.14)")
    p.add_argument("--from", dest="from_path", type=Path,
                   help="copy this YOLOv5/YOLOv7 checkout, wheel or archive instead of the PyPI wheel")
    p.add_argument("--dest", type=Path, default=None,
                   help="default third_party/<host>: yolov5 (PyPI), yolov5-git, yolov7")
    p.add_argument("--sha256", type=sha256_hex, help="expected sha256 of the wheel, for versions we have not checked")
    p.add_argument("--no-pth", action="store_true", help="do not put the tree on this environment's import path")
    p.add_argument("--force", action="store_true", help="replace a tree vendored from another source")


def run(args) -> int:
    from ..patching.vendor import vendor

    print(vendor(version=args.version, from_path=args.from_path, dest=args.dest, sha256=args.sha256,
                 pth=not args.no_pth, force=args.force))
    return 0
