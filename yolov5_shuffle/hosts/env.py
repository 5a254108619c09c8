"""Find and import the host code this environment runs, and build models with it.

YOLOv5: the vendored PyPI-layout tree (``yolov5.models``) or a checkout on sys.path (``models``).
YOLOv7: the vendored tree in third_party/yolov7 (its code imports top-level ``models``/``utils``, which
the PyPI-layout YOLOv5 leaves free, so both build side by side in one process for the benchmark).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from ..configs import REPO_DIR, config_names
from ..errors import UserError



def yolov7_root() -> Path:
    """The YOLOv7 tree to build with: $YOLOV5_SHUFFLE_YOLOV7, else the vendored third_party/yolov7."""
    return Path(os.environ.get("YOLOV5_SHUFFLE_YOLOV7") or REPO_DIR / "third_party" / "yolov7").resolve()


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


def import_yolov7(root: Path | None = None) -> ModuleType:
    """YOLOv7's ``models.yolo`` from the vendored tree, refusing clearly when it is missing or not patched."""
    root = root or yolov7_root()
    if not (root / "models" / "yolo.py").is_file():
        raise YOLOv5NotFound(f"{root}: no YOLOv7 vendored; run: yolov5-shuffle vendor --from PATH/TO/yolov7 "
                             "(a checkout or its archive), then yolov5-shuffle patch third_party/yolov7")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    mod = importlib.import_module("models.yolo")
    if Path(mod.__file__).resolve().parent.parent != root.resolve():
        raise YOLOv5NotFound(f"another 'models' package ({mod.__file__}) shadows YOLOv7's in {root}")
    if not hasattr(mod, "ShuffleNetV2_InvertedResidual"):
        raise YOLOv5NotFound(f"{root}: this YOLOv7 is not patched; run: yolov5-shuffle patch {root}")
    return mod


def is_ultralytics_config(cfg: str | Path) -> bool:
    name = Path(cfg).name
    return name in config_names("ultralytics") or name.startswith(("yolov8", "yolo11", "rtdetr"))


def build_ultralytics(cfg: str | Path, nc: int = 80):
    """A fused, eval-mode ultralytics model (YOLOv8/YOLO11/RT-DETR, ours or its own yaml) as a plain module."""
    import torch

    from . import ultralytics as host

    host.register()
    from ultralytics.nn.tasks import DetectionModel, RTDETRDetectionModel

    path = host.resolve_config(cfg) or cfg
    cls = RTDETRDetectionModel if Path(cfg).name.startswith("rtdetr") else DetectionModel
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        model = cls(str(path), ch=3, nc=nc, verbose=False).eval()
        model.fuse(verbose=False)
        for m in model.modules():  # export mode: the decoded predictions alone, as ONNX export does
            if hasattr(m, "export") and hasattr(m, "format"):
                m.export, m.format = True, "onnx"
    return model


def is_yolov7_config(cfg: str | Path) -> bool:
    name = Path(cfg).name
    return name in config_names("yolov7") or name.startswith("yolov7")


def yolov5_root() -> Path:
    """The folder holding train.py / detect.py of the importable YOLOv5."""
    return Path(import_yolo().__file__).resolve().parent.parent


def build(cfg: str, nc: int = 80):
    """A fused, eval-mode model of ``cfg`` (ours or the host's), built by its host: ultralytics for
    YOLOv8/YOLO11/RT-DETR configs, the patched YOLOv7 for YOLOv7's, the patched YOLOv5 for the rest."""
    import torch

    from ..configs import resolve_config

    if is_ultralytics_config(cfg):
        return build_ultralytics(cfg, nc)
    if is_yolov7_config(cfg):
        yolo = import_yolov7()
        path = resolve_config(cfg, extra_dirs=(yolov7_root() / "cfg" / "training",), dialect="yolov7")
    else:
        yolo = import_yolo()
        path = resolve_config(cfg, extra_dirs=(yolov5_root() / "models",))
    with contextlib.redirect_stdout(io.StringIO()), _quiet_yolov5(), torch.no_grad():
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


def load_checkpoint(weights: Path):
    """A YOLOv5 or YOLOv7 training checkpoint as (fused eval model in export form, class names, stride).

    The host whose classes the checkpoint pickles is imported first (patched YOLOv5, PyPI or git layout, or
    YOLOv7 for IDetect checkpoints). ultralytics checkpoints are refused: that package exports every
    format itself (``yolov5-shuffle yolo export model=best.pt format=openvino``)."""
    import zipfile

    import torch

    weights = Path(weights)
    if not weights.is_file():
        raise UserError(f"weights {weights}: no such file ({weights.resolve()})")
    try:
        with zipfile.ZipFile(weights) as z:
            text = z.read(next(n for n in z.namelist() if n.endswith("data.pkl"))).decode("latin-1")  # class paths
    except (zipfile.BadZipFile, StopIteration):
        raise UserError(f"weights {weights}: not a PyTorch checkpoint (a zip with data.pkl)") from None
    if "ultralytics.nn" in text:
        raise UserError(f"weights {weights}: an ultralytics checkpoint; export it with ultralytics itself: "
                        f"yolov5-shuffle yolo export model={weights} format=onnx|openvino|ncnn|tflite")
    if "IDetect" in text:
        import_yolov7()
    else:
        import_yolo()
    with contextlib.redirect_stdout(io.StringIO()), _quiet_yolov5():
        ckpt = torch.load(weights, map_location="cpu", weights_only=False)
        model = (ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]).float().eval()
        model.fuse()
    for m in model.modules():
        if type(m).__name__ in ("Detect", "IDetect"):
            m.inplace = False
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    return model, names, int(max(model.stride))
