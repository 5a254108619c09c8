"""yolov5-shuffle: ShuffleNetV2, MobileNetV2 and depthwise-separable backbones for YOLOv5."""

__version__ = "0.1.0"
