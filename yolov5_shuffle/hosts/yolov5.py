"""YOLOv5 as a git checkout (ultralytics/yolov5, v6.0 to current master): ``from models.common import ...``.

``parse_model`` registers modules in a list (v6.0-v6.1), a tuple (v6.2), a set (v7.0) or a set written one
name per line with an explicit import list (master); our edits anchor on lines every one of them has.
Building and checkpoints go through whichever YOLOv5 this environment imports (the vendored PyPI-layout tree
``yolov5.models`` or a checkout on sys.path ``models``); anything not claimed by another host is YOLOv5's.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

from ._tree import TreeHost
from .base import HostNotFound
from .base import Insertion, Tree, parse_model_registration, read_text

FUSE_ANCHOR = r"^(\s*)LOGGER\.info\(['\"]Fusing layers\.\.\. ?['\"]\)"
LOGS = r"^\s*LOGGER\.info\("  # YOLOv5 (v6.0 on) logs through LOGGER; the forks that print are other hosts
RELEASE_CONFIG = re.compile(r"^yolov5[nsmlx]6?(\.yaml)?$")  # YOLOv5's own configs in its models/
RELEASE_WEIGHTS = re.compile(r"^yolov5[nsmlx]6?\.pt$")  # what train.py downloads from YOLOv5's releases by name


def _is_yolov5_yolo_py(yolo: Path, prefix: str) -> bool:
    if not (yolo.is_file() and (yolo.parent / "common.py").is_file()):
        return False
    text = yolo.read_bytes().decode("utf-8", errors="replace")
    return ("def parse_model(" in text and re.search(LOGS, text, re.M) is not None
            and re.search(rf"^from {re.escape(prefix)}models\.common import", text, re.M) is not None)


def import_yolo() -> ModuleType:
    """YOLOv5's ``models.yolo`` module, refusing clearly when it is missing or not patched."""
    from ..marker import is_patched

    errors = []
    for name in ("yolov5.models.yolo", "models.yolo"):
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        root = Path(mod.__file__).resolve().parent.parent
        if not is_patched(root):
            raise HostNotFound(f"{mod.__file__}: this YOLOv5 is not patched; run: yolov5-shuffle patch {root}")
        return mod
    raise HostNotFound("no YOLOv5 importable here; run `yolov5-shuffle vendor` (or put your checkout on "
                       "PYTHONPATH). Tried " + "; ".join(errors))


class YOLOv5Git(TreeHost):
    name = "yolov5"
    label = "YOLOv5 git checkout (v6.0 - master)"
    vendor_dir = "yolov5-git"
    checkpoint_modules = ("yolov5.models.", "models.")
    loggers = ("yolov5", "")  # YOLOv5's LOGGING_NAME, and the root logger
    release_weights = RELEASE_WEIGHTS
    tree_signs = "models/yolo.py logging with LOGGER, with parse_model() and models/common.py"
    fixes = ("pkg_resources", "roboflow_optional", "hub_download_optional", "boto3_optional", "font_offline",
             "font_getsize", "np_trapz", "np_aliases", "torch_load_safe", "onnx_export_dynamo",
             "label_cache_except", "loss_clamp_long", "noval_map50s", "export_openvino_convert",
             "export_failure_points_to_ours", "model_yaml_data")  # v6.0-7.0 need them; on master most edit nothing

    def recognise(self, path: Path) -> Tree | None:
        return Tree(self, path) if _is_yolov5_yolo_py(path / "models" / "yolo.py", "") else None

    def edits(self, tree: Tree) -> dict[str, list[Insertion]]:
        read_text(tree.root / "models" / "yolo.py")  # refuses non-UTF-8 before anything else
        return parse_model_registration(tree.prefix, FUSE_ANCHOR)

    def owns_config(self, cfg) -> bool:
        return True  # the default dialect: a yaml no other host claims is a YOLOv5 one

    def knows_config(self, cfg) -> bool:  # YOLOv5's own configs are there once `vendor` made the tree
        return bool(RELEASE_CONFIG.match(Path(cfg).name)) and len(Path(cfg).parts) == 1 or super().knows_config(cfg)

    def tree_root(self) -> Path | None:
        from ..cfg_check import importable_host_root

        return importable_host_root()

    def check_config(self, path: Path) -> None:
        from ..cfg_check import check_model_yaml, require_patched_host

        check_model_yaml(path, require_patched_host())  # no YOLOv5, or an unpatched one: the command that fixes it

    def import_yolo(self) -> ModuleType:
        return import_yolo()

    def owns_checkpoint(self, names: set[str]) -> bool:
        return any(n.startswith(("models.yolo.", "yolov5.models.yolo.")) for n in names)


HOST = YOLOv5Git()
