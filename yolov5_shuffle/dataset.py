"""A generated, deterministic detection dataset in YOLO format: data without a download.

Four shape classes of varied size, colour, position and overlap on cluttered backgrounds; enough
structure for a small model to show real learning in minutes on a CPU. ``--video`` renders moving
scenes into an .mp4 so detect.py has a video to read.

A :class:`Scene` sets how hard the scenes are (object sizes, how many, how much one may hide another,
unlabelled clutter). The default scene is the original demo data, image for image (same seed, same
bytes); the yardstick (measure/yardstick.py) uses a harder one so that yolov5n does not saturate.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from .outputs import clean_stale, disk_full, first_missing, remove_empty_up_to, temp_dir
from .errors import UserError

CLASSES = ("circle", "square", "triangle", "cross")
STAMP = "dataset.json"
MIN_IMGSZ, MAX_IMGSZ = 64, 2048  # YOLOv5 needs multiples of 32; 2048 px x 500 images is already 6 GB of pixels


class DatasetError(UserError):
    pass


@dataclass(frozen=True)
class Scene:
    """How hard the generated scenes are. Sizes are fractions of the image side; ``max_cover`` is how much
    of an object another may cover (drawn later, on top); ``clutter`` is how many unlabelled distractor
    polygons (5-7 corners, none of the classes) each scene gets at most."""

    min_size: float = 0.08
    max_size: float = 0.4
    max_objects: int = 6
    max_cover: float = 0.3
    clutter: int = 0

    def check(self) -> None:
        if not 0 < self.min_size <= self.max_size <= 0.9:
            raise DatasetError(f"object sizes must satisfy 0 < min ({self.min_size}) <= max ({self.max_size}) <= 0.9")
        if self.max_objects < 1 or self.clutter < 0 or not 0 <= self.max_cover < 1:
            raise DatasetError(f"max objects must be >= 1, clutter >= 0 and max cover in [0, 1): got "
                               f"{self.max_objects}, {self.clutter}, {self.max_cover}")

    def changes(self) -> dict:
        """The settings that differ from the default scene (empty for the demo data)."""
        return {k: v for k, v in asdict(self).items() if v != getattr(DEFAULT_SCENE, k)}


DEFAULT_SCENE = Scene()


def _background(rng: np.random.Generator, s: int) -> np.ndarray:
    """Two-colour gradient, noise and a few thin distractor lines."""
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, s)[:, None, None]
    img = (c0 * (1 - t) + c1 * t).repeat(s, axis=1).astype(np.float32)
    if rng.random() < 0.5:
        img = img.transpose(1, 0, 2)
    img += rng.normal(0, 12, img.shape)
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    for _ in range(rng.integers(0, 6)):
        p1, p2 = tuple(int(v) for v in rng.integers(0, s, 2)), tuple(int(v) for v in rng.integers(0, s, 2))
        cv2.line(img, p1, p2, tuple(int(v) for v in rng.integers(0, 256, 3)), 1)
    return img


def _draw(img: np.ndarray, cls: int, x0: int, y0: int, w: int, h: int, colour) -> None:
    x1, y1 = x0 + w - 1, y0 + h - 1
    if cls == 0:
        cv2.ellipse(img, (((x0 + x1) / 2, (y0 + y1) / 2), (w, h), 0), colour, -1)
    elif cls == 1:
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
    elif cls == 2:
        pts = np.array([[(x0 + x1) // 2, y0], [x0, y1], [x1, y1]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    else:
        tw, th = max(w // 3, 1), max(h // 3, 1)
        cv2.rectangle(img, (x0 + tw, y0), (x1 - tw, y1), colour, -1)
        cv2.rectangle(img, (x0, y0 + th), (x1, y1 - th), colour, -1)


def _covered(a, b) -> float:
    """Fraction of the smaller box that the other covers (objects may overlap, never hide)."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / min(a[2] * a[3], b[2] * b[3])


def _clutter(img: np.ndarray, rng: np.random.Generator, s: int, scene: Scene) -> None:
    """Up to ``scene.clutter`` unlabelled irregular polygons (hard negatives), drawn under the objects."""
    for _ in range(rng.integers(0, scene.clutter + 1) if scene.clutter else 0):
        size = s * rng.uniform(scene.min_size, scene.max_size)
        cx, cy = rng.uniform(size / 2, s - size / 2, 2)
        k = int(rng.integers(5, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = size / 2 * rng.uniform(0.5, 1.0, k)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(img, [pts], tuple(int(v) for v in rng.integers(0, 256, 3)))


def _objects(rng: np.random.Generator, s: int, scene: Scene = DEFAULT_SCENE) -> list[tuple]:
    """(cls, x0, y0, w, h, colour) for 1 to ``max_objects`` objects (default 6), each at most ``max_cover``
    (30%) covered, all inside the image."""
    objs = []
    for _ in range(rng.integers(1, scene.max_objects + 1)):
        for _try in range(20):
            size = int(s * rng.uniform(scene.min_size, scene.max_size))
            w = max(8, int(size * rng.uniform(0.7, 1.3)))
            h = max(8, int(size * rng.uniform(0.7, 1.3)))
            w, h = min(w, s - 2), min(h, s - 2)
            x0, y0 = int(rng.integers(0, s - w)), int(rng.integers(0, s - h))
            if all(_covered((x0, y0, w, h), o[1:5]) < scene.max_cover for o in objs):
                colour = tuple(int(v) for v in rng.integers(0, 256, 3))
                objs.append((int(rng.integers(0, len(CLASSES))), x0, y0, w, h, colour))
                break
    return objs


def render(rng: np.random.Generator, s: int, objs=None, scene: Scene = DEFAULT_SCENE) -> tuple[np.ndarray, list]:
    img = _background(rng, s)
    _clutter(img, rng, s, scene)
    objs = _objects(rng, s, scene) if objs is None else objs
    for cls, x0, y0, w, h, colour in objs:
        _draw(img, cls, x0, y0, w, h, colour)
    return img, objs


def _label_lines(objs, s: int) -> list[str]:
    return [f"{c} {(x0 + w / 2) / s:.6f} {(y0 + h / 2) / s:.6f} {w / s:.6f} {h / s:.6f}" for c, x0, y0, w, h, _ in objs]


def validate(root: Path) -> int:
    """Check every label (class id known, box inside the image) and image/label pairing; return box count."""
    n = 0
    for split in ("train", "val"):
        images = sorted((root / "images" / split).glob("*.jpg"))
        if not images:
            raise DatasetError(f"{root}/images/{split}: no images")
        for img in images:
            lbl = root / "labels" / split / f"{img.stem}.txt"
            if not lbl.is_file():
                raise DatasetError(f"{lbl}: missing label file for {img.name}")
            for k, line in enumerate(lbl.read_text().splitlines(), 1):
                parts = line.split()
                if len(parts) != 5:
                    raise DatasetError(f"{lbl}:{k}: expected 5 fields, got {len(parts)}")
                c, cx, cy, w, h = int(parts[0]), *map(float, parts[1:])
                if not 0 <= c < len(CLASSES):
                    raise DatasetError(f"{lbl}:{k}: class id {c} not in 0..{len(CLASSES) - 1}")
                if not (w > 0 and h > 0 and cx - w / 2 >= -1e-6 and cy - h / 2 >= -1e-6
                        and cx + w / 2 <= 1 + 1e-6 and cy + h / 2 <= 1 + 1e-6):
                    raise DatasetError(f"{lbl}:{k}: box {cx, cy, w, h} not inside the image")
                n += 1
    return n


def _write_video(path: Path, rng: np.random.Generator, s: int, frames: int = 36, fps: int = 12) -> None:
    """Objects gliding across a fixed background."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (s, s))
    if not writer.isOpened():
        raise DatasetError(f"{path}: OpenCV cannot write mp4 here")
    bg = _background(rng, s)
    objs = _objects(rng, s)
    vel = [(int(rng.integers(-4, 5)), int(rng.integers(-4, 5))) for _ in objs]
    for f in range(frames):
        img = bg.copy()
        for (cls, x0, y0, w, h, colour), (vx, vy) in zip(objs, vel):
            x = int(np.clip(x0 + vx * f, 0, s - w - 1))
            y = int(np.clip(y0 + vy * f, 0, s - h - 1))
            _draw(img, cls, x, y, w, h, colour)
        writer.write(img)
    writer.release()


def make_dataset(out: Path, train: int = 200, val: int = 50, imgsz: int = 320, seed: int = 0,
                 video: bool = False, scene: Scene = DEFAULT_SCENE) -> Path:
    """Write the dataset at ``out`` (atomically) and return its data yaml; reuse an identical one."""
    scene.check()
    if train < 1 or val < 1:
        raise DatasetError(f"--train and --val must be >= 1 (got {train}, {val})")
    if seed < 0:
        raise DatasetError(f"--seed must be >= 0, got {seed}")
    if not MIN_IMGSZ <= imgsz <= MAX_IMGSZ or imgsz % 32:
        raise DatasetError(f"--imgsz must be a multiple of 32 from {MIN_IMGSZ} to {MAX_IMGSZ} (YOLOv5's stride is 32), "
                           f"got {imgsz}")
    out = Path(out).resolve()
    blocker = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise DatasetError(f"--out {out}: {blocker} is a file, not a folder")
    params = {"train": train, "val": val, "imgsz": imgsz, "seed": seed, "video": video, "classes": CLASSES}
    if scene.changes():  # only then: a default dataset's stamp stays what earlier versions wrote
        params["scene"] = scene.changes()
    if (out / STAMP).is_file():
        if json.loads((out / STAMP).read_text()) == json.loads(json.dumps(params)):
            print(f"{out}: dataset already there with these settings; reusing it")
            return out / "data.yaml"
        raise DatasetError(f"{out}: holds a dataset made with other settings; choose another --out")
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out}: exists and is not empty; choose another --out")
    made = first_missing(out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out.parent, (out.name,))  # what a killed run left beside it
        boxes = _write_dataset(out, train, val, imgsz, seed, video, params, scene)
    except BaseException as e:
        _remove_made(out.parent, made)
        full = disk_full(e, out)
        if full:
            raise full from None
        raise
    print(f"dataset: {train} train + {val} val images of {imgsz} px, {boxes} boxes, classes {', '.join(CLASSES)}"
          f"{', video.mp4' if video else ''} -> {out}")
    return out / "data.yaml"


def _remove_made(folder: Path, made: Path | None) -> None:
    """Remove the folders this run made on the way to ``folder`` (``made``, the outermost, and those below it that
    exist; a full disk may have stopped ``mkdir`` half-way) while they are empty."""
    here = next(p for p in (folder, *folder.parents) if p.exists())
    if made is not None and here.is_relative_to(made):
        remove_empty_up_to(here, made)


def _write_dataset(out: Path, train: int, val: int, imgsz: int, seed: int, video: bool, params: dict,
                   scene: Scene) -> int:
    """Every file in a hidden folder beside ``out``, renamed into place whole at the end (removed on any failure or
    interruption; one a killed run left is removed by the next run); the number of boxes."""
    rng = np.random.default_rng(seed)
    root = temp_dir(out.parent, out.name)
    try:
        for split, count in (("train", train), ("val", val)):
            (root / "images" / split).mkdir(parents=True)
            (root / "labels" / split).mkdir(parents=True)
            for i in range(count):
                img, objs = render(rng, imgsz, scene=scene)
                if not cv2.imwrite(str(root / "images" / split / f"{split}_{i:05d}.jpg"), img,
                                   [cv2.IMWRITE_JPEG_QUALITY, 92]):  # says nothing else on a full disk
                    raise OSError(errno.ENOSPC, "OpenCV could not write an image")
                (root / "labels" / split / f"{split}_{i:05d}.txt").write_text("\n".join(_label_lines(objs, imgsz)) + "\n")
        if video:
            _write_video(root / "video.mp4", rng, imgsz)
        boxes = validate(root)
        fields = {"path": str(out), "train": "images/train", "val": "images/val", "nc": len(CLASSES),
                  "names": dict(enumerate(CLASSES))}  # a yaml library quotes paths with '#', ': ' and the like
        (root / "data.yaml").write_text(f"# generated by yolov5-shuffle dataset (seed {seed})\n"
                                        + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True))
        (root / STAMP).write_text(json.dumps(params, indent=1))
        if out.exists():
            out.rmdir()
        os.rename(root, out)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return boxes
