"""Run YOLOv5's own train.py / detect.py in the patched tree, checking our inputs first.

YOLOv5 reports bad input with tracebacks, minutes into a run (or stops at the first unreadable image);
these wrappers check the config, data yaml, labels, weights and sources before YOLOv5 starts, and say
which file (and line, or layer) is wrong. Paths are the caller's: relative ones are resolved against the
caller's folder before train.py/detect.py run (in the YOLOv5 tree's folder). A run that fails leaves no
empty run folder behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..configs import REPO_DIR, config_files, resolve_config
from ..errors import UserError

VENDORED = REPO_DIR / "third_party" / "yolov5"
DEMO_HYP = Path(__file__).resolve().parent.parent / "hyps" / "hyp.demo.yaml"
SHORT_RUN = ["--optimizer", "AdamW", "--hyp", str(DEMO_HYP)]  # see hyps/hyp.demo.yaml for why
IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv"}
RELEASE_WEIGHTS = re.compile(r"^yolov5[nsmlx]6?\.pt$")  # names train.py downloads from YOLOv5's releases
HOST_CONFIG = re.compile(r"^yolov5[nsmlx](\.yaml)?$")  # YOLOv5's own configs in its models/


class YOLOv5Error(UserError):
    pass


def ensure_yolov5(root: Path = VENDORED) -> Path:
    """The vendored YOLOv5 (made if missing or vendored with older fixes), patched."""
    from . import patch
    from .vendor import vendor

    vendor(dest=root)
    _, written, _ = patch.run(root)  # also upgrades the lines of an older yolov5-shuffle
    print(f"patched {root}" if written else f"{root}: patched")
    return root


# --- data --------------------------------------------------------------------------------------------

def _names_count(names) -> int | None:
    if isinstance(names, (list, tuple)):
        return len(names)
    if isinstance(names, dict):
        return len(names)
    return None


def _data_root(d: dict, data: Path, root: Path) -> Path:
    """The folder train.py resolves train/val against: ``path`` if absolute, else relative to the YOLOv5 tree."""
    p = Path(str(d.get("path") or ""))
    return p if p.is_absolute() else (Path(root) / p).resolve()


def _split_paths(d: dict, key: str, data: Path, base: Path) -> list[Path]:
    items = d[key] if isinstance(d[key], list) else [d[key]]
    out = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise YOLOv5Error(f"data yaml {data}: {key} must be a path (or a list of paths), got {item!r}")
        full = Path(item) if Path(item).is_absolute() else (base / item).resolve()
        if not full.exists() and item.startswith("../"):
            full = (base / item[3:]).resolve()  # as train.py does
        if not full.exists():
            beside = (data.resolve().parent / item).resolve()
            if not Path(item).is_absolute() and beside.exists():
                raise YOLOv5Error(f"data yaml {data}: {key} path '{item}' is relative, and train.py resolves it "
                                  f"against {base} (its own folder), where it does not exist; add "
                                  f"'path: {data.resolve().parent}' to the yaml")
            raise YOLOv5Error(f"data yaml {data}: {key} path {full} does not exist")
        out.append(full)
    return out


def _images_of(split: Path) -> list[Path]:
    """The image files train.py would read from a folder or a .txt list."""
    if split.is_dir():
        return sorted(p for p in split.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if split.suffix == ".txt":
        parent = str(split.parent) + os.sep
        lines = [x.strip() for x in split.read_text(errors="replace").splitlines() if x.strip()]
        return [Path(x.replace("./", parent, 1) if x.startswith("./") else x) for x in lines]
    return [split] if split.suffix.lower() in IMAGE_SUFFIXES else []


def label_path(image: Path) -> Path:
    """YOLOv5's label file for an image: /images/ -> /labels/ (the last one), suffix .txt."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    s = str(image)
    return Path(sb.join(s.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def check_label_file(lbl: Path, nc: int, data: Path) -> int:
    """Every row of a YOLO label file: numbers, a class id in 0..nc-1. Returns the rows read."""
    try:
        text = lbl.read_text()
    except UnicodeDecodeError:
        raise YOLOv5Error(f"{lbl}: not a text label file (YOLO rows: class x y w h)") from None
    n = 0
    for k, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(x) for x in parts]
        except ValueError:
            raise YOLOv5Error(f"{lbl}:{k}: not a YOLO label row (class x y w h): {line.strip()[:60]!r}") from None
        c = values[0]
        if c != int(c) or not 0 <= c < nc:
            raise YOLOv5Error(f"{lbl}:{k}: class id {parts[0]} is outside 0..{nc - 1} (nc={nc} in {data})")
        n += 1
    return n


def check_data_yaml(data: Path, root: Path = VENDORED, labels: bool = True) -> dict:
    """Parse a YOLO data yaml and check what train.py needs: the keys, nc and names, the folders (resolved as
    train.py resolves them) and, with ``labels``, every label row's class id against nc."""
    from ..cfg_check import ConfigError, load_yaml_file

    data = Path(data)
    if not data.exists():
        raise YOLOv5Error(f"data yaml {data}: no such file")
    try:
        d = load_yaml_file(data, "data file")
    except ConfigError as e:
        raise YOLOv5Error(str(e)) from None
    if not isinstance(d, dict):
        raise YOLOv5Error(f"not a YAML data file: {data} (expected a mapping with train/val/names, got "
                          f"{type(d).__name__})")
    missing = [k for k in ("train", "val", "names") if k not in d]
    if missing:
        raise YOLOv5Error(f"data yaml {data}: missing key(s) {', '.join(missing)}")
    count = _names_count(d["names"])
    if count is None:
        raise YOLOv5Error(f"data yaml {data}: names must be a list or a mapping of class names, got {d['names']!r}")
    nc = d.get("nc", count)
    if not isinstance(nc, int) or isinstance(nc, bool) or nc < 1:
        raise YOLOv5Error(f"data yaml {data}: nc must be a whole number >= 1, got {nc!r}")
    if count != nc:
        raise YOLOv5Error(f"data yaml {data}: nc is {nc} but names has {count} entries")
    base = _data_root(d, data, root)
    splits = {k: _split_paths(d, k, data, base) for k in ("train", "val")}
    if labels:
        for paths in splits.values():
            for split in paths:
                for img in _images_of(split):
                    lbl = label_path(img)
                    if lbl.is_file():
                        check_label_file(lbl, nc, data)
    return d


def split_images(data: Path, split: str = "val", root: Path = VENDORED) -> list[Path]:
    """The images of a data yaml's ``split``, resolved as train.py resolves them (the yaml checked first)."""
    d = check_data_yaml(data, root, labels=False)
    return [img for folder in _split_paths(d, split, Path(data), _data_root(d, Path(data), root))
            for img in _images_of(folder)]


# --- running -----------------------------------------------------------------------------------------

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
        raise YOLOv5Error(f"{script} exited with {r.returncode} (its output above says why){tail}")
    return r


def _listing(project: Path) -> set[Path]:
    return set(project.iterdir()) if project.is_dir() else set()


def _new_dir(project: Path, before: set) -> Path:
    made = sorted(_listing(project) - before, key=lambda p: p.stat().st_mtime)
    if not made:
        raise YOLOv5Error(f"no new run folder appeared in {project}")
    return made[-1]


def _has_files(folder: Path) -> bool:
    return any(p.is_file() for p in folder.rglob("*"))


def _run_in(project: Path, root: Path, script: str, args: list, capture: bool) -> Path:
    """_run; return the run folder it made. On failure remove what it left empty: new run folders with no
    file in them, and the project folder when it made that too."""
    made_project = not project.exists()
    before = _listing(project)
    try:
        _run(root, script, args, capture)
    except BaseException:
        for p in _listing(project) - before:
            if p.is_dir() and not _has_files(p):
                shutil.rmtree(p, ignore_errors=True)
        if made_project and project.is_dir() and not any(project.iterdir()):
            project.rmdir()
        raise
    return _new_dir(project, before)


def _check_project(project: Path, flag: str = "--project") -> Path:
    project = Path(project).resolve()
    existing = next((p for p in (project, *project.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise YOLOv5Error(f"{flag} {project}: {existing} is a file, not a folder")
    return project


def _check_train_weights(weights: str | Path | None) -> list[str]:
    """--weights for train.py: '' (from scratch), a file (made absolute), or a YOLOv5 release name."""
    if weights is None or str(weights) == "":
        return ["--weights", ""]
    w = Path(weights)
    if w.is_file():
        return ["--weights", str(w.resolve())]
    if w.exists():
        raise YOLOv5Error(f"--weights {weights}: not a file")
    if len(w.parts) == 1 and RELEASE_WEIGHTS.match(w.name):
        return ["--weights", w.name]  # train.py downloads YOLOv5's release checkpoints by name
    raise YOLOv5Error(f"--weights {weights}: no such file ({w.resolve()})")


def _resolve_cfg(cfg: str | Path, root: Path) -> Path:
    """The config path train.py gets: a file that exists is used as given (absolute), a name is looked up in
    our configs and the tree's; a file named like an installed config is used, with a note saying so."""
    try:
        path = resolve_config(cfg, extra_dirs=(Path(root) / "models",))
    except FileNotFoundError as e:
        raise YOLOv5Error(str(e)) from None
    given = Path(cfg)
    if given.is_file():
        installed = {c.name: c for c in sorted((Path(root) / "models").glob("*.yaml"))}
        installed.update({c.name: c for c in config_files()})
        other = installed.get(path.name)
        if other is not None and other.resolve() != path and other.read_bytes() != path.read_bytes():
            print(f"note: --cfg {cfg}: using the file {path} as given, not the installed config of the same name "
                  f"({other})", flush=True)
    return path


def train(root: Path | None, cfg: str, data: Path, epochs: int, imgsz: int, project: Path, batch: int = 16,
          extra: list[str] = (), capture: bool = False, weights: str | Path | None = None) -> Path:
    """train.py (from scratch unless ``weights`` or extra says otherwise); returns the new run folder.

    Every input is checked before YOLOv5 starts; ``root=None`` makes the vendored YOLOv5 ready only after
    that (so a wrong argument costs no set-up)."""
    if epochs < 1 or batch < 1:
        raise YOLOv5Error(f"--epochs and --batch-size must be >= 1, got {epochs} and {batch}")
    tree = Path(root) if root is not None else VENDORED
    check_data_yaml(data, tree)
    weight_args = [] if "--weights" in extra else _check_train_weights(weights)
    project = _check_project(project)
    cfg_path = None
    if not (root is None and not (tree / "models").is_dir() and HOST_CONFIG.match(Path(cfg).name)):
        cfg_path = _resolve_cfg(cfg, tree)  # else a YOLOv5 config name, known once the tree is there
    if root is None:
        root = ensure_yolov5()
    if cfg_path is None:
        cfg_path = _resolve_cfg(cfg, root)
    from ..cfg_check import check_model_yaml

    check_model_yaml(cfg_path, root)
    return _run_in(project, root, "train.py",
                   ["--cfg", cfg_path, "--data", Path(data).resolve(), *weight_args, "--epochs", epochs, "--imgsz",
                    imgsz, "--batch-size", batch, "--workers", 0, "--project", project, "--name", "exp", *extra],
                   capture)


# --- detection sources -------------------------------------------------------------------------------

def readable_images(folder: Path) -> tuple[list[Path], list[Path]]:
    """(images OpenCV can decode, the ones it cannot) in a folder."""
    import cv2

    good, bad = [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            (good if cv2.imread(str(p)) is not None else bad).append(p)
    return good, bad


def video_frame_shape(path: Path) -> tuple[int, int] | None:
    """(height, width) of a video's first frame, or None when OpenCV cannot open it, read a frame or count
    its frames (detect.py would fail on it: a zero-byte or corrupt file)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        ok, frame = cap.read()
        if not ok or frame is None or cap.get(cv2.CAP_PROP_FRAME_COUNT) <= 0:
            return None
        return frame.shape[:2]
    finally:
        cap.release()


def readable_videos(folder: Path) -> tuple[list[Path], list[Path]]:
    good, bad = [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in VIDEO_SUFFIXES:
            (good if video_frame_shape(p) is not None else bad).append(p)
    return good, bad


def frame_shape(path: Path) -> tuple[int, int] | None:
    """(height, width) of an image, or of a video's first frame; None when OpenCV cannot read it."""
    import cv2

    if path.suffix.lower() in VIDEO_SUFFIXES:
        return video_frame_shape(path)
    img = cv2.imread(str(path))
    return None if img is None else img.shape[:2]


def readable_sources(source: Path) -> tuple[list[Path], bool]:
    """What a detect run will read: an image or video file, or a folder's readable images and videos (each
    unreadable one named in a warning and skipped); and whether any was skipped. The PyTorch route
    (detect.py) and the exported-model route check their sources here alike."""
    source = Path(source)
    if not source.exists():
        raise UserError(f"source {source}: no such file or folder ({source.resolve()})")
    if not source.is_dir():
        suffix = source.suffix.lower()
        if suffix not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise UserError(f"source {source}: not an image or video (suffix {source.suffix or 'none'})")
        if frame_shape(source) is None:
            if suffix in IMAGE_SUFFIXES:
                raise UserError(f"source {source}: not a readable image")
            raise UserError(f"source {source}: not a readable video (OpenCV cannot open it or read a frame: "
                            f"{'empty file' if source.stat().st_size == 0 else 'corrupt or unsupported'})")
        return [source], False
    images, bad = readable_images(source)
    videos, bad_videos = readable_videos(source)
    for b in bad:
        print(f"warning: {b}: not a readable image; skipped", flush=True)
    for b in bad_videos:
        print(f"warning: {b}: not a readable video; skipped", flush=True)
    if not images and not videos:
        raise UserError(f"source {source}: no readable images or videos in it")
    return sorted(images + videos), bool(bad or bad_videos)


def line_thickness(height: int, width: int) -> int:
    """Box line width for detect.py's annotator (its font scales with it): 1 px up to 400 px images, YOLOv5's
    default 3 from about 1000 px; detect.py's fixed 3 would cover a small image with its labels."""
    return max(1, min(3, round(min(height, width) / 320)))


def _link_folder(files: list[Path], folder: Path) -> Path:
    """A folder holding `files` under their own names (links where the OS allows, else copies)."""
    folder.mkdir()
    for f in files:
        try:
            (folder / f.name).symlink_to(f.resolve())
        except OSError:
            shutil.copy2(f, folder / f.name)
    return folder


def detect(root: Path | None, weights: Path, source: Path, imgsz: int, project: Path, name: str,
           capture: bool = False, extra: list[str] = ()) -> Path:
    """detect.py on an image, a folder (unreadable images and videos skipped with a warning) or a video.

    Every input is checked before YOLOv5 starts; ``root=None`` makes the vendored YOLOv5 ready after that."""
    source, weights = Path(source), Path(weights)
    if not weights.exists():
        raise YOLOv5Error(f"weights {weights}: no such file ({weights.resolve()})")
    if not weights.is_file():
        raise YOLOv5Error(f"weights {weights}: not a file")
    listed = source.is_file() and source.suffix.lower() == ".txt"  # a .txt list goes to detect.py as it is
    files, skipped = ([], False) if listed else readable_sources(source)
    project = _check_project(project)
    shape = frame_shape(files[0]) if files else None
    with tempfile.TemporaryDirectory() as tmp:
        arg = source.resolve()
        if skipped:  # YOLOv5 stops at the first unreadable file, and saves nothing for a .txt list:
            arg = _link_folder(files, Path(tmp) / "source")  # a folder of the readable ones
        style = [] if shape is None or "--line-thickness" in extra else ["--line-thickness", line_thickness(*shape)]
        if root is None:
            root = ensure_yolov5()
        return _run_in(project, root, "detect.py", ["--weights", weights.resolve(), "--source", arg, "--imgsz", imgsz,
                                                    "--project", project, "--name", name, *style, *extra], capture)
