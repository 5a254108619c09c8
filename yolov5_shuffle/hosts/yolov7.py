"""YOLOv7 (WongKinYiu/yolov7): YOLOv5 v6.0's ``parse_model`` shape (a registration list and
``from models.common import *``), IDetect heads, configs in ``cfg/training``, ``test.py`` for validation.

Built from the vendored tree in third_party/yolov7 (or $YOLOV5_SHUFFLE_YOLOV7): its code imports top-level
``models``/``utils``, which the PyPI-layout YOLOv5 leaves free, so both build side by side in one process.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from ..configs import REPO_DIR
from ._tree import TreeHost
from .base import HostNotFound
from .base import Insertion, Tree, parse_model_registration, read_text

FUSE_ANCHOR = r"^(\s*)print\(['\"]Fusing layers\.\.\. ?['\"]\)"
HEADS = ("IDetect", "IAuxDetect", "IBin", "IKeypoint")  # its own heads: a checkpoint naming one is YOLOv7's


def yolov7_root() -> Path:
    """The YOLOv7 tree to build with: $YOLOV5_SHUFFLE_YOLOV7, else the vendored third_party/yolov7."""
    return Path(os.environ.get("YOLOV5_SHUFFLE_YOLOV7") or REPO_DIR / "third_party" / "yolov7").resolve()


def import_yolov7(root: Path | None = None) -> ModuleType:
    """YOLOv7's ``models.yolo`` from the vendored tree, refusing clearly when it is missing or not patched."""
    from ..marker import is_patched

    root = root or yolov7_root()
    if not (root / "models" / "yolo.py").is_file():
        raise HostNotFound(f"{root}: no YOLOv7 vendored; run: yolov5-shuffle vendor --from PATH/TO/yolov7 "
                           "(a checkout or its archive), then yolov5-shuffle patch third_party/yolov7")
    if not is_patched(root):
        raise HostNotFound(f"{root}: this YOLOv7 is not patched; run: yolov5-shuffle patch {root}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    mod = importlib.import_module("models.yolo")
    if Path(mod.__file__).resolve().parent.parent != root.resolve():
        raise HostNotFound(f"another 'models' package ({mod.__file__}) shadows YOLOv7's in {root}")
    return mod


class YOLOv7(TreeHost):
    name = "yolov7"
    label = "YOLOv7 (WongKinYiu/yolov7)"
    vendor_dir = "yolov7"
    dialect = "yolov7"
    config_prefixes = ("yolov7",)
    config_dest = "cfg/training"
    scripts = {"train": "train.py", "val": "test.py", "detect": "detect.py"}
    checkpoint_modules = ("models.",)  # its layers: models.common, models.experimental, models.yolo
    fixes = ("pkg_resources", "font_getsize", "np_trapz", "np_aliases", "torch_load_safe", "onnx_export_dynamo",
             "yolov7_data_yaml", "yolov7_foreign_cache", "yolov7_attempt_download", "yolov7_simplify_onnxslim",
             "meshgrid_indexing", "model_yaml_data")
    priority = 30
    heads = ("Detect", *HEADS)
    tree_signs = "models/yolo.py with parse_model() and IDetect, models/common.py and cfg/training/"

    def recognise(self, path: Path) -> Tree | None:
        yolo = path / "models" / "yolo.py"
        if not (yolo.is_file() and (path / "models" / "common.py").is_file() and (path / "cfg" / "training").is_dir()):
            return None
        text = yolo.read_bytes().decode("utf-8", errors="replace")
        return Tree(self, path) if "def parse_model(" in text and "IDetect" in text else None

    def edits(self, tree: Tree) -> dict[str, list[Insertion]]:
        read_text(tree.root / "models" / "yolo.py")
        return parse_model_registration("", FUSE_ANCHOR)

    def tree_root(self) -> Path | None:
        return yolov7_root()

    def import_yolo(self) -> ModuleType:
        return import_yolov7()

    def owns_checkpoint(self, names: set[str]) -> bool:
        return any(n.rpartition(".")[2] in HEADS for n in names)


HOST = YOLOv7()
