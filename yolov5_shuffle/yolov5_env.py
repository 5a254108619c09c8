"""Find and import the YOLOv5 this environment runs (the vendored PyPI-layout tree or a checkout on sys.path)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .errors import UserError


class YOLOv5NotFound(UserError, ImportError):
    pass


def import_yolo() -> ModuleType:
    """YOLOv5's ``models.yolo`` module, refusing clearly when it is missing or not patched."""
    errors = []
    for name in ("yolov5.models.yolo", "models.yolo"):
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        if not hasattr(mod, "ShuffleNetV2_InvertedResidual"):
            raise YOLOv5NotFound(f"{mod.__file__}: this YOLOv5 is not patched; run: yolov5-shuffle patch "
                                 f"{Path(mod.__file__).parent.parent}")
        return mod
    raise YOLOv5NotFound("no YOLOv5 importable here; run `yolov5-shuffle vendor` (or put your checkout on "
                         "PYTHONPATH). Tried " + "; ".join(errors))


def yolov5_root() -> Path:
    """The folder holding train.py / detect.py of the importable YOLOv5."""
    return Path(import_yolo().__file__).resolve().parent.parent
