"""``yolov5-shuffle export``: a checkpoint to OpenVINO, ncnn, TFLite, int8 ..., each checked against PyTorch and
scored on the val split.

The options are declared beside the export (:func:`yolov5_shuffle.measure.export_check.add_arguments`), whose
runtime list gives ``--to`` its choices."""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..measure.export_check import add_arguments as export_arguments

    export_arguments(p)


def run(args) -> int:
    from ..measure.export_check import run_export

    return run_export(args)  # still takes the namespace
