"""Our blocks in the ``ultralytics`` package: ``import yolov5_shuffle.ultralytics`` registers them (the one import).

Then ``YOLO("yolo11n-shufflenetv2.yaml")``, ``RTDETR("rtdetr-shufflenetv2.yaml")``, training, validation,
prediction, ``fuse()`` and export work as for ultralytics' own models; ``python -m yolov5_shuffle.ultralytics
train model=... data=...`` is ``yolo train ...`` with the blocks registered, its arguments checked and its
checkpoints loaded safely (the ``yolo`` route). ``with safe_loading(): YOLO("x.pt")`` loads a checkpoint from
Python the way that route does. How the registration works, and what holds for checkpoints:
:mod:`yolov5_shuffle.hosts.ultralytics.registration`.
"""

from __future__ import annotations

import sys

from .hosts.ultralytics.config_lookup import config_dir, config_names, resolve_config
from .hosts.ultralytics.registration import BLOCKS, RegistrationError, autoregister, is_registered, register
from .hosts.ultralytics.safe_load import safe_loading
from .hosts.ultralytics.yolo_route import main

__all__ = ("register", "autoregister", "is_registered", "config_dir", "config_names", "resolve_config", "main",
           "safe_loading", "BLOCKS", "RegistrationError")

register()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
