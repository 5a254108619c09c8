"""The ``ultralytics`` package (YOLOv8, YOLO11, RT-DETR) as a host: nothing to patch, its "install" is the
run-time registration (:mod:`.registration`, imported only where a model is built: it imports ultralytics,
and the registry asks this host about configs and checkpoints without that).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ...errors import UserError
from ..base import Host, PatchError
from .config_lookup import DIALECT, resolve_config
from .safe_load import CHECKPOINT_MODULES

PUBLIC_MODULE = "yolov5_shuffle.ultralytics"  # the one import that registers; ``python -m`` it: ``yolo`` registered
# The recipe's knobs that ultralytics shares with YOLOv5 (its loss gains are its own, by design).
SHARED_HYP = ("lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr",
              "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective", "flipud", "fliplr",
              "mosaic", "mixup", "copy_paste")


def _is_package(path: Path) -> bool:
    """Whether ``path`` is the ultralytics package's folder (installed, or inside a clone)."""
    return path.name == "ultralytics" and (path / "nn" / "tasks.py").is_file() and (path / "engine").is_dir()


class Ultralytics(Host):
    name = "ultralytics"
    label = "the ultralytics package (YOLOv8, YOLO11, RT-DETR)"
    dialect = DIALECT
    config_prefixes = ("yolov8", "yolo11", "rtdetr")
    checkpoint_modules = CHECKPOINT_MODULES  # its layers, and the train-args namespace its checkpoints hold
    model_code = ("ultralytics.nn.tasks",)
    priority = 20
    scripts: dict = {}  # no train.py/detect.py: its CLI is `yolov5-shuffle yolo ...`
    command = "yolo"

    def run_command(self, argv: list[str]) -> int:
        """ultralytics' ``yolo`` with our blocks registered."""
        from .yolo_route import main

        return main(argv=argv)

    def recognise(self, path: Path):
        """Nothing to patch; the ultralytics package itself (or a clone of it) is refused with the route that
        works instead, rather than with "not a tree we know"."""
        path = Path(path)
        if _is_package(path) or ((path / "pyproject.toml").is_file() and _is_package(path / "ultralytics")):
            raise PatchError(f"{path}: the ultralytics package needs no patch: our blocks register at run time; in "
                             f"Python: import {PUBLIC_MODULE} (before building a model); on the command line: "
                             f"yolov5-shuffle yolo train model=yolo11n-shufflenetv2.yaml data=your.yaml")
        return None

    def resolve_config(self, cfg):
        """Keep the name ultralytics is given: its scale letter picks the row of ``scales:``."""
        if Path(cfg).is_file():
            return Path(cfg)
        if resolve_config(cfg) is not None:
            return Path(cfg)
        return super().resolve_config(cfg)

    def build(self, cfg, nc: int | None = 80, fused: bool = True):
        import contextlib
        import io

        import torch

        from .registration import register

        register()
        from ultralytics.nn.tasks import DetectionModel, RTDETRDetectionModel

        path = self.resolve_config(cfg)
        cls = RTDETRDetectionModel if Path(cfg).name.startswith("rtdetr") else DetectionModel
        if not fused:
            return cls(str(path), ch=3, nc=nc, verbose=False)
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            model = cls(str(path), ch=3, nc=nc, verbose=False).eval()
            model.fuse(verbose=False)
            for m in model.modules():  # export mode: the decoded predictions alone, as ONNX export does
                if hasattr(m, "export") and hasattr(m, "format"):
                    m.export, m.format = True, "onnx"
        return model

    def hint(self, job: str, path: Path) -> str:
        verb = {"detect": "predict"}.get(job, job)
        return f"run it with: yolov5-shuffle yolo {verb} model={path}"

    def load_checkpoint(self, path: Path):
        raise UserError(f"weights {path}: an ultralytics checkpoint; export it with ultralytics itself: "
                        f"yolov5-shuffle yolo export model={path} format=onnx|openvino|ncnn|tflite")

    def train(self, cfg: str, data: Path, epochs: int, imgsz: int, project: Path, batch: int, seed: int = 0,
              hyp: Path | None = None) -> Path:
        """``yolo train`` (our blocks registered) in a subprocess, with AdamW and the shared knobs of a YOLOv5
        hyp yaml; the new run folder."""
        import yaml

        recipe = yaml.safe_load(Path(hyp).read_text()) if hyp else {}
        args = [f"model={cfg}", f"data={data}", f"epochs={epochs}", f"imgsz={imgsz}", f"batch={batch}", "workers=0",
                f"seed={seed}", "deterministic=True", "optimizer=AdamW", "amp=False", "plots=False",
                f"project={project}", "name=exp", "exist_ok=False", *(f"{k}={recipe[k]}" for k in SHARED_HYP if k in recipe)]
        before = set(project.iterdir()) if project.exists() else set()
        env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}
        cmd = [sys.executable, "-m", PUBLIC_MODULE, "train", *args]
        print("$ " + " ".join(cmd), flush=True)
        if subprocess.run(cmd, env=env).returncode:
            raise UserError(f"ultralytics training of {cfg} failed (command above)")
        made = sorted(set(project.iterdir()) - before, key=lambda p: p.stat().st_mtime)
        if not made:
            raise UserError(f"no new run folder appeared in {project}")
        return made[-1]


HOST = Ultralytics()
