"""``yolov5-shuffle pick --budget-ms MS``: the most accurate (config, size, runtime) within a latency budget,
timed on this machine (:mod:`yolov5_shuffle.measure.pick`)."""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..measure.pick import add_arguments as pick_arguments  # argparse and argtypes only: no torch

    pick_arguments(p)


def run(args) -> int:
    from ..measure.pick import run_pick

    return run_pick(args)  # the options are declared beside the core, which reads them from the namespace
