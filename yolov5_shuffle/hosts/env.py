"""Older names of the registry's verbs (``hosts.build``, ``hosts.load_checkpoint``) and of the YOLOv5/YOLOv7
imports, for callers written before the host seam; new code asks :mod:`yolov5_shuffle.hosts`."""

from __future__ import annotations

from . import build as _build
from . import load_checkpoint
from ._tree import HostNotFound as YOLOv5NotFound
from .yolov5 import import_yolo
from .yolov7 import import_yolov7, yolov7_root

__all__ = ("build", "load_checkpoint", "YOLOv5NotFound", "import_yolo", "import_yolov7", "yolov7_root")


def build(cfg, nc: int = 80):
    """A fused, eval-mode model of ``cfg`` (ours or the host's), built by the host that owns the config."""
    return _build(cfg, nc=nc)
