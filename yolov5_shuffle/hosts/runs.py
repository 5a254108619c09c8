"""Run YOLOv5's own train.py / detect.py in the patched tree, checking our inputs first.

YOLOv5 reports bad input with tracebacks (or stops at the first unreadable image); these wrappers
check the config, data yaml and sources up front and say which file is wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ..configs import REPO_DIR, resolve_config
from ..errors import UserError

VENDORED = REPO_DIR / "third_party" / "yolov5"
DEMO_HYP = Path(__file__).resolve().parent / "hyps" / "hyp.demo.yaml"
SHORT_RUN = ["--optimizer", "AdamW", "--hyp", str(DEMO_HYP)]  # see hyps/hyp.demo.yaml for why
IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv"}


class YOLOv5Error(UserError):
    pass


def ensure_yolov5(root: Path = VENDORED) -> Path:
    """The vendored YOLOv5 (made if missing or vendored with older fixes), patched."""
    from . import patch
    from .vendor import vendor

    vendor(dest=root)
    _, written, _ = patch.run(root)
    print(f"patched {root}" if written else f"{root}: patched")
    return root


def check_data_yaml(data: Path) -> dict:
    """Parse a YOLO data yaml and check the fields and folders train.py needs."""
    data = Path(data)
    if not data.is_file():
        raise YOLOv5Error(f"data yaml {data}: no such file")
    try:
        d = yaml.safe_load(data.read_text())
    except yaml.YAMLError as e:
        raise YOLOv5Error(f"data yaml {data}: not valid YAML ({e})") from e
    if not isinstance(d, dict):
        raise YOLOv5Error(f"data yaml {data}: expected a mapping with train/val/names, got {type(d).__name__}")
    missing = [k for k in ("train", "val", "names") if k not in d]
    if missing:
        raise YOLOv5Error(f"data yaml {data}: missing key(s) {', '.join(missing)}")
    base = Path(d.get("path") or data.parent)
    for k in ("train", "val"):
        for p in d[k] if isinstance(d[k], list) else [d[k]]:
            full = Path(p) if Path(p).is_absolute() else base / p
            if not full.exists():
                raise YOLOv5Error(f"data yaml {data}: {k} path {full} does not exist")
    return d


def _run(root: Path, script: str, args: list[str], capture: bool = False) -> subprocess.CompletedProcess:
    # YOLOv5 7.0 calls torch.cuda.amp.* once per batch; torch's FutureWarning for it would bury the progress bar
    quiet = "ignore:`torch.cuda.amp:FutureWarning"
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONWARNINGS": ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), quiet)))}
    cmd = [sys.executable, script, *map(str, args)]
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=capture, text=True)
    if r.returncode:
        tail = f"\n{(r.stderr or '')[-3000:]}" if capture else ""
        raise YOLOv5Error(f"{script} exited with {r.returncode}{tail}")
    return r


def _new_dir(project: Path, before: set) -> Path:
    made = sorted(set(project.iterdir()) - before, key=lambda p: p.stat().st_mtime) if project.exists() else []
    if not made:
        raise YOLOv5Error(f"no new run folder appeared in {project}")
    return made[-1]


def train(root: Path, cfg: str, data: Path, epochs: int, imgsz: int, project: Path, batch: int = 16,
          extra: list[str] = (), capture: bool = False) -> Path:
    """train.py from scratch (``--weights ''`` unless extra says otherwise); returns the new run folder."""
    cfg_path = resolve_config(cfg, extra_dirs=(root / "models",))
    check_data_yaml(data)
    project = Path(project).resolve()
    before = set(project.iterdir()) if project.exists() else set()
    weights = [] if "--weights" in extra else ["--weights", ""]
    _run(root, "train.py", ["--cfg", cfg_path, "--data", Path(data).resolve(), *weights, "--epochs", epochs,
                            "--imgsz", imgsz, "--batch-size", batch, "--workers", 0, "--project", project,
                            "--name", "exp", *extra], capture)
    return _new_dir(project, before)


def readable_images(folder: Path) -> tuple[list[Path], list[Path]]:
    """(images OpenCV can decode, the ones it cannot) in a folder."""
    import cv2

    good, bad = [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            (good if cv2.imread(str(p)) is not None else bad).append(p)
    return good, bad


def _link_folder(files: list[Path], folder: Path) -> Path:
    """A folder holding `files` under their own names (links where the OS allows, else copies)."""
    folder.mkdir()
    for f in files:
        try:
            (folder / f.name).symlink_to(f.resolve())
        except OSError:
            shutil.copy2(f, folder / f.name)
    return folder


def detect(root: Path, weights: Path, source: Path, imgsz: int, project: Path, name: str,
           capture: bool = False, extra: list[str] = ()) -> Path:
    """detect.py on an image, a folder (unreadable images skipped with a warning) or a video."""
    source, weights = Path(source), Path(weights)
    if not weights.is_file():
        raise YOLOv5Error(f"weights {weights}: no such file")
    if not source.exists():
        raise YOLOv5Error(f"source {source}: no such file or folder")
    project = Path(project).resolve()
    before = set(project.iterdir()) if project.exists() else set()
    with tempfile.TemporaryDirectory() as tmp:
        arg = source.resolve()
        if source.is_dir():
            good, bad = readable_images(source)
            for b in bad:
                print(f"warning: {b}: not a readable image; skipped", flush=True)
            videos = [p for p in sorted(source.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
            if not good and not videos:
                raise YOLOv5Error(f"source {source}: no readable images or videos in it")
            if bad:  # YOLOv5 stops at the first unreadable image, and saves nothing for a .txt list:
                arg = _link_folder(good + videos, Path(tmp) / "source")  # a folder of the readable ones
        elif source.suffix.lower() in IMAGE_SUFFIXES:
            import cv2

            if cv2.imread(str(source)) is None:
                raise YOLOv5Error(f"source {source}: not a readable image")
        elif source.suffix.lower() not in VIDEO_SUFFIXES | {".txt"}:
            raise YOLOv5Error(f"source {source}: not an image or video (suffix {source.suffix or 'none'})")
        _run(root, "detect.py", ["--weights", weights.resolve(), "--source", arg, "--imgsz", imgsz,
                                 "--project", project, "--name", name, *extra], capture)
    return _new_dir(project, before)
