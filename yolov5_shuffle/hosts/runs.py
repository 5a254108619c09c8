"""Older home of the YOLOv5 script runners and the data helpers, kept for callers written before the split:
the runners are in :mod:`yolov5_shuffle.hosts.scripts`, the data helpers in :mod:`yolov5_shuffle.data`."""

from __future__ import annotations

from ..data.files import DataError, check_data_yaml, check_label_file, label_path, split_images  # noqa: F401
from ..data.sources import (  # noqa: F401
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    frame_shape,
    line_thickness,
    readable_images,
    readable_sources,
    readable_videos,
    video_frame_shape,
)
from .scripts import SHORT_RUN, VENDORED, YOLOv5Error, detect, ensure_yolov5, train  # noqa: F401
