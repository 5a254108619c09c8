"""Older name of :mod:`yolov5_shuffle.hosts.scripts` (the YOLOv5 script runners), for callers written before
the split: importing it gives that very module, so ``runs.train``, ``runs._run`` (and the data helpers it
imports from :mod:`yolov5_shuffle.data`: ``check_data_yaml``, ``split_images``, ``readable_sources``,
``label_path``, ``line_thickness``) are the same objects, monkeypatching included."""

import sys

from . import scripts

sys.modules[__name__] = scripts
