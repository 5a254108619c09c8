"""YOLOv5 as a git checkout (ultralytics/yolov5, v6.0 to current master): ``from models.common import ...``.

``parse_model`` registers modules in a list (v6.0-v6.1), a tuple (v6.2), a set (v7.0) or a set written one
name per line with an explicit import list (master); our edits anchor on lines every one of them has.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Host, Insertion, Tree, parse_model_registration, read_text

FUSE_ANCHOR = r"^(\s*)LOGGER\.info\(['\"]Fusing layers\.\.\. ?['\"]\)"


def _is_yolov5_yolo_py(yolo: Path, prefix: str) -> bool:
    if not (yolo.is_file() and (yolo.parent / "common.py").is_file()):
        return False
    text = yolo.read_bytes().decode("utf-8", errors="replace")
    return ("def parse_model(" in text and "IDetect" not in text
            and re.search(rf"^from {re.escape(prefix)}models\.common import", text, re.M) is not None)


class YOLOv5Git(Host):
    name = "yolov5"
    label = "YOLOv5 git checkout (v6.0 - master)"
    vendor_dir = "yolov5-git"
    fixes = ("pkg_resources", "roboflow_optional", "hub_download_optional", "boto3_optional", "font_offline",
             "font_getsize", "np_trapz", "np_aliases", "torch_load_weights_only", "onnx_export_dynamo",
             "label_cache_except", "loss_clamp_long")  # v6.0-7.0 need them; on master all but font_offline edit nothing

    def recognise(self, path: Path) -> Tree | None:
        return Tree(self, path) if _is_yolov5_yolo_py(path / "models" / "yolo.py", "") else None

    def edits(self, tree: Tree) -> dict[str, list[Insertion]]:
        read_text(tree.root / "models" / "yolo.py")  # refuses non-UTF-8 before anything else
        return parse_model_registration(tree.prefix, FUSE_ANCHOR)


HOST = YOLOv5Git()
