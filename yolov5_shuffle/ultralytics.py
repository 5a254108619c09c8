"""Our blocks in the ``ultralytics`` package: ``import yolov5_shuffle.ultralytics`` registers them.

Then ``YOLO("yolo11n-shufflenetv2.yaml")``, ``RTDETR("rtdetr-shufflenetv2.yaml")``, training, validation,
prediction, ``fuse()`` and export work as for ultralytics' own models; ``python -m yolov5_shuffle.ultralytics
train model=... data=...`` is ``yolo train ...`` with the blocks registered. How the registration works, and
what holds for checkpoints: :mod:`yolov5_shuffle.hosts.ultralytics` (the older import path, which still works).
"""

from __future__ import annotations

import sys

from .hosts.ultralytics import (  # noqa: F401  (importing it registers)
    BLOCKS,
    RegistrationError,
    autoregister,
    config_dir,
    config_names,
    is_registered,
    main,
    register,
    resolve_config,
)

__all__ = ("register", "autoregister", "is_registered", "config_dir", "config_names", "resolve_config", "main",
           "BLOCKS", "RegistrationError")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
