"""YOLOv7 (WongKinYiu/yolov7): YOLOv5 v6.0's ``parse_model`` shape (a registration list and
``from models.common import *``), IDetect heads, configs in ``cfg/training``, ``test.py`` for validation.
"""

from __future__ import annotations

from pathlib import Path

from .base import Host, Insertion, Tree, parse_model_registration, read_text

FUSE_ANCHOR = r"^(\s*)print\(['\"]Fusing layers\.\.\. ?['\"]\)"


class YOLOv7(Host):
    name = "yolov7"
    label = "YOLOv7 (WongKinYiu/yolov7)"
    vendor_dir = "yolov7"
    dialect = "yolov7"
    config_dest = "cfg/training"
    fixes = ("pkg_resources", "font_getsize", "np_trapz", "np_aliases", "torch_load_weights_only", "onnx_export_dynamo",
             "yolov7_data_yaml", "yolov7_foreign_cache", "yolov7_attempt_download", "yolov7_simplify_onnxslim",
             "meshgrid_indexing")
    priority = 30

    def recognise(self, path: Path) -> Tree | None:
        yolo = path / "models" / "yolo.py"
        if not (yolo.is_file() and (path / "models" / "common.py").is_file() and (path / "cfg" / "training").is_dir()):
            return None
        text = yolo.read_bytes().decode("utf-8", errors="replace")
        return Tree(self, path) if "def parse_model(" in text and "IDetect" in text else None

    def edits(self, tree: Tree) -> dict[str, list[Insertion]]:
        read_text(tree.root / "models" / "yolo.py")
        return parse_model_registration("", FUSE_ANCHOR)


HOST = YOLOv7()
