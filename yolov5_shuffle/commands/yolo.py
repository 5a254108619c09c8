"""``yolov5-shuffle yolo``: ultralytics' own ``yolo`` command, our blocks registered, checkpoints loaded safely."""

from __future__ import annotations

import argparse


def add_arguments(p) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="yolo's own arguments, e.g. train model=yolo11n-shufflenetv2.yaml data=your.yaml")


def run(args) -> int:
    from ..hosts import for_command

    return for_command("yolo").run_command(args.args)
