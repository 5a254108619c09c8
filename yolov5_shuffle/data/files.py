"""A YOLO data yaml and its labels, checked the way YOLOv5's train.py reads them, before any training starts.

train.py resolves ``train``/``val`` against the yaml's ``path`` (else its own folder), reads labels from the
``labels/`` folder beside each ``images/`` folder, and fails minutes in (or trains on nothing) when one is
wrong; these checks name the file and line first. Used by ``train``, ``learn``, ``export`` (its val split).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..configs import REPO_DIR
from ..errors import UserError, user_path
from .sources import IMAGE_SUFFIXES

VENDORED = REPO_DIR / "third_party" / "yolov5"  # the folder train.py resolves relative paths against by default


class DataError(UserError):
    """A data yaml or label file that training would trip over."""


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
            raise DataError(f"data yaml {data}: {key} must be a path (or a list of paths), got {item!r}")
        full = Path(item) if Path(item).is_absolute() else (base / item).resolve()
        if not full.exists() and item.startswith("../"):
            full = (base / item[3:]).resolve()  # as train.py does
        if not full.exists():
            beside = (data.resolve().parent / item).resolve()
            if not Path(item).is_absolute() and beside.exists():
                raise DataError(f"data yaml {data}: {key} path '{item}' is relative, and train.py resolves it "
                                  f"against {base} (its own folder), where it does not exist; add "
                                  f"'path: {data.resolve().parent}' to the yaml")
            raise DataError(f"data yaml {data}: {key} path {full} does not exist")
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
        raise DataError(f"{lbl}: not a text label file (YOLO rows: class x y w h)") from None
    n = 0
    for k, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(x) for x in parts]
        except ValueError:
            raise DataError(f"{lbl}:{k}: not a YOLO label row (class x y w h): {line.strip()[:60]!r}") from None
        c = values[0]
        if c != int(c) or not 0 <= c < nc:
            raise DataError(f"{lbl}:{k}: class id {parts[0]} is outside 0..{nc - 1} (nc={nc} in {data})")
        n += 1
    return n


def check_data_yaml(data: Path, root: Path = VENDORED, labels: bool = True) -> dict:
    """Parse a YOLO data yaml and check what train.py needs: the keys, nc and names, the folders (resolved as
    train.py resolves them) and, with ``labels``, every label row's class id against nc."""
    from ..cfg_check import ConfigError, load_yaml_file

    data = Path(data)
    if not data.exists():
        raise DataError(f"data yaml {data}: no such file")
    try:
        d = load_yaml_file(data, "data file")
    except ConfigError as e:
        raise DataError(str(e)) from None
    if not isinstance(d, dict):
        raise DataError(f"not a YAML data file: {data} (expected a mapping with train/val/names, got "
                          f"{type(d).__name__})")
    missing = [k for k in ("train", "val", "names") if k not in d]
    if missing:
        raise DataError(f"data yaml {data}: missing key(s) {', '.join(missing)}")
    count = _names_count(d["names"])
    if count is None:
        raise DataError(f"data yaml {data}: names must be a list or a mapping of class names, got {d['names']!r}")
    nc = d.get("nc", count)
    if not isinstance(nc, int) or isinstance(nc, bool) or nc < 1:
        raise DataError(f"data yaml {data}: nc must be a whole number >= 1, got {nc!r}")
    if count != nc:
        raise DataError(f"data yaml {data}: nc is {nc} but names has {count} entries")
    base = _data_root(d, data, root)
    with user_path("data yaml", data):  # its folders, image lists and labels: the user's files
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
    with user_path("data yaml", data):
        return [img for folder in _split_paths(d, split, Path(data), _data_root(d, Path(data), root))
                for img in _images_of(folder)]
