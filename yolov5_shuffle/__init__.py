"""yolov5-shuffle: ShuffleNetV2, MobileNetV2 and depthwise-separable backbones for YOLOv5, YOLOv7 and ultralytics."""

import sys

__version__ = "0.2.0"

# Unpickling an ultralytics checkpoint that holds our blocks imports this package first: register then,
# so fusing and re-training from the checkpoint's yaml work without an explicit import
# (hosts/ultralytics/registration.py).
if "ultralytics.nn.tasks" in sys.modules:
    from .hosts.ultralytics.registration import autoregister

    autoregister()
