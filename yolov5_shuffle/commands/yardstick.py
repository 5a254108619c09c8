"""``yolov5-shuffle yardstick``: a grid of (config, size, seed) trained until the curves flatten; the table,
the learning curves and the front plot (:mod:`yolov5_shuffle.measure.yardstick`)."""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..measure.yardstick import add_arguments as yardstick_arguments  # argparse and argtypes only: no torch

    yardstick_arguments(p)


def run(args) -> int:
    from ..measure.yardstick import run_yardstick

    return run_yardstick(args)  # the options are declared beside the core, which reads them from the namespace
