"""``yolov5-shuffle bench``: measured latency, params and GFLOPs against yolov5n/yolov5s.

The options are declared beside the benchmark (:func:`yolov5_shuffle.measure.bench.add_arguments`), whose
runtime tables give ``--runtimes`` its choices."""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..measure.bench import add_arguments as bench_arguments

    bench_arguments(p)


def run(args) -> int:
    from ..measure.bench import run_bench

    return run_bench(args)  # still takes the namespace
