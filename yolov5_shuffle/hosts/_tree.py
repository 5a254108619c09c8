"""What YOLOv5-style source trees share (YOLOv5 v6.0 - master, its PyPI packaging, YOLOv7): ``models/yolo.py``'s
``Model(cfg, ch, nc)`` builds a yaml, ``fuse()`` folds BatchNorms, checkpoints pickle whole models. Each host
module says how its tree is imported and recognised; building and loading checkpoints is written once here.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
from pathlib import Path
from types import ModuleType

from ..errors import UserError
from .base import Host


class quiet:
    """Silence the host's loggers (``names``) while building (it prints the whole layer table) and its prints."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def __enter__(self):
        self.loggers = [logging.getLogger(n) for n in self.names]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)
        self.out = contextlib.redirect_stdout(io.StringIO())
        self.out.__enter__()

    def __exit__(self, *exc):
        self.out.__exit__(*exc)
        for lg, lv in zip(self.loggers, self.levels):
            lg.setLevel(lv)


def export_form(model, heads: tuple[str, ...]):
    """Fused, eval, ``heads`` (class names) that return plain tensors, with no in-place grid writes (what bench,
    export and init-weights' check expect)."""
    model = model.float().eval()
    for m in model.modules():
        if type(m).__name__ in heads:
            m.inplace = False
    model.fuse()
    return model


class TreeHost(Host):
    """A host whose code is a YOLOv5-style source tree (import it with :meth:`import_yolo`)."""

    checkpoint_modules = ("models.",)
    heads: tuple[str, ...] = ("Detect",)  # class names of its detection heads
    loggers: tuple[str, ...] = ("",)  # the loggers its model code writes to (silenced while building)
    tree_signs = "models/yolo.py with parse_model() and models/common.py"

    def hint(self, job: str, path: Path) -> str:
        return f"run it with: yolov5-shuffle {job} --weights {path}"

    def import_yolo(self) -> ModuleType:
        """The tree's ``models.yolo`` module, patched; HostNotFound saying which command makes one."""
        raise NotImplementedError

    def tree_root(self) -> Path | None:
        """The folder of models/yolo.py that would be imported, found without importing it (None: none)."""
        return None

    def host_config_dirs(self) -> tuple[Path, ...]:
        root = self.tree_root()
        return (root / self.config_dest,) if root is not None else ()

    def check_config(self, path: Path) -> None:
        from ..cfg_check import check_model_yaml

        root = self.tree_root()
        check_model_yaml(path, root if root is not None and (root / "models" / "yolo.py").is_file() else None)

    def build(self, cfg: str | Path, nc: int | None = 80, fused: bool = True):
        import torch

        path = self.resolve_config(cfg)
        self.check_config(path)
        yolo = self.import_yolo()
        with quiet(self.loggers), torch.no_grad():
            model = yolo.Model(str(path), ch=3, nc=nc)
            return export_form(model, self.heads) if fused else model

    def import_model_code(self) -> None:
        self.import_yolo()  # the tree's models.yolo imports every layer module its checkpoints name

    def import_code_in_use(self) -> None:
        """A tree whose models/common.py this process runs gets its models/yolo.py too: YOLOv7's scripts load
        checkpoints (models/experimental.py) before anything imports it."""
        for prefix in self.checkpoint_modules:
            if f"{prefix}common" in sys.modules and f"{prefix}yolo" not in sys.modules:
                importlib.import_module(f"{prefix}yolo")

    def load_checkpoint(self, path: Path):
        from ..untrusted.checkpoint import load

        self.import_model_code()  # the classes the checkpoint pickles, imported and patched
        with quiet(self.loggers):
            ckpt = load(path, map_location="cpu", modules=self.checkpoint_modules)
        model = None
        if isinstance(ckpt, dict):
            model = ckpt["ema"] if ckpt.get("ema") is not None else ckpt.get("model")
        if model is None or not hasattr(model, "fuse"):
            raise UserError(f"weights {path}: not a training checkpoint of {self.label} (no model in it)")
        with quiet(self.loggers):
            model = export_form(model, self.heads)
        names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
        return model, names, int(max(model.stride))
