"""Find and import the YOLOv5 this environment runs (the vendored PyPI-layout tree or a checkout on sys.path)."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
from pathlib import Path
from types import ModuleType

from ..errors import UserError


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


def build(cfg: str, nc: int = 80):
    """A fused, eval-mode YOLOv5 model of ``cfg`` (ours or YOLOv5's), built by the patched YOLOv5."""
    from ..configs import resolve_config

    yolo = import_yolo()
    path = resolve_config(cfg, extra_dirs=(yolov5_root() / "models",))
    with contextlib.redirect_stdout(io.StringIO()), _quiet_yolov5():
        model = yolo.Model(str(path), ch=3, nc=nc).eval()
        for m in model.modules():  # export-style Detect: plain tensor output, no grid caching surprises
            if type(m).__name__ == "Detect":
                m.inplace = False
        model.fuse()
    return model


class _quiet_yolov5:
    """Silence YOLOv5's logger while building (it prints the whole layer table)."""

    def __enter__(self):
        self.loggers = [logging.getLogger(n) for n in ("yolov5", "")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for lg, lv in zip(self.loggers, self.levels):
            lg.setLevel(lv)
