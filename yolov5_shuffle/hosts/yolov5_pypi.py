"""YOLOv5 as packaged on PyPI (``pip install yolov5``, 6.x/7.x): the same code as the git tags, with
imports rewritten to ``from yolov5.models.common import ...``; the tree is ``site-packages/yolov5``.
Building and checkpoints are the git host's (it imports either layout).
"""

from __future__ import annotations

from pathlib import Path

from .base import Tree
from .yolov5 import YOLOv5Git, _is_yolov5_yolo_py

PREFIX = "yolov5."


class YOLOv5PyPI(YOLOv5Git):
    name = "yolov5-pypi"
    label = "YOLOv5 PyPI packaging (yolov5 6.x - 7.x)"
    vendor_dir = "yolov5"
    priority = 40
    fixes = YOLOv5Git.fixes + ("requirements_check_packaged", "nms_time_limit_message", "video_end_retrieve")
    tree_signs = f"{YOLOv5Git.tree_signs} importing {PREFIX}models, in the folder or in its yolov5/"
    import_name = PREFIX.rstrip(".")  # its code imports yolov5.*: vendored as third_party/yolov5, .pth to the parent

    def recognise(self, path: Path) -> Tree | None:
        for root in (path, path / "yolov5"):
            if _is_yolov5_yolo_py(root / "models" / "yolo.py", PREFIX):
                return Tree(self, root, PREFIX)
        return None

    def owns_config(self, cfg) -> bool:
        return False  # YOLOv5's dialect is answered once, by the git host (it builds with either layout)

    def owns_checkpoint(self, names: set[str]) -> bool:
        return False


HOST = YOLOv5PyPI()
