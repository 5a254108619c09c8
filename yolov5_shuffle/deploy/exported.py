"""Run an exported model (any registered runtime's artefact) as a detector: on images and videos, and
scored on a labelled split, with the same pre- and post-processing for every runtime.

YOLOv5's own detect.py/val.py run ONNX, but on today's packages not OpenVINO 2026 (``openvino.runtime``
is gone), not TFLite through ai-edge-litert, and never ncnn; this module runs all of them through the
runtime that owns the artefact (:func:`.runtimes.for_artefact`), so a deployed model is checked the
way it will be used. ``yolov5-shuffle export`` writes ``metadata.yaml`` (class names, input size)
beside what it exports; without it the input size comes from ``--imgsz`` and classes are shown by
number. Loading runs the model once on a blank input: a wrong size, an unreadable file or an output
of another layout (ultralytics' ``(1, 4 + nc, N)``) is refused in one line before any folder is made.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import UserError, one_line, user_path
from ..data.files import label_path
from ..data.sources import IMAGE_SUFFIXES, line_thickness
from . import metrics
from . import runtimes
from ..outputs import disk_full, first_missing, remove_empty_up_to

METADATA = "metadata.yaml"
VAL_CONF, VAL_IOU = 0.001, 0.6  # YOLOv5 val.py's thresholds, for mAP
DETECT_CONF, DETECT_IOU = 0.25, 0.45  # detect.py's


class ExportError(UserError):
    pass


def runtime_of(path: Path) -> str:
    """The name of the runtime that runs an exported artefact (see :func:`.runtimes.for_artefact`)."""
    path = Path(path)
    rt = runtimes.for_artefact(path)
    if rt is None:
        kinds = ", ".join(r.artefact.format(name="*") for r in runtimes.exportable())
        raise ExportError(f"{path}: not an exported model (one of: {kinds}; or an .xml/.param in such a folder)")
    return rt.name


def metadata_beside(path: Path) -> dict:
    """The checked metadata.yaml of the artefact's folder (or of inside an OpenVINO/ncnn folder); {} when absent
    (read by :func:`yolov5_shuffle.untrusted.metadata.read_metadata`: bounded, checked before it sizes anything)."""
    from ..untrusted.metadata import read_metadata

    path = Path(path)
    for folder in ((path,) if path.is_dir() else ()) + (path.parent,):
        f = folder / METADATA
        if f.exists():
            return read_metadata(f)
    return {}


class Detector:
    """An exported model (or any ``x -> prediction`` callable) with its input size and class names:
    BGR image in, ``(M, 6)`` detections ``[x1, y1, x2, y2, confidence, class]`` on that image out."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], imgsz: int, names: dict[int, str] | None = None,
                 label: str = "model"):
        self.predict, self.imgsz, self.names, self.label = predict, imgsz, names or {}, label

    @classmethod
    def load(cls, path: Path, imgsz: int | None = None, threads: int = 2) -> "Detector":
        path = Path(path)
        if not path.exists():
            raise ExportError(f"weights {path}: no such file or folder ({path.resolve()})")
        rt = runtimes.by_name(runtime_of(path))
        ok, why = rt.available()
        if not ok:
            raise ExportError(f"{path}: cannot run it here: {why}")
        with user_path("weights", path):  # its folder's metadata.yaml
            meta = metadata_beside(path)
        size = meta.get("imgsz")
        if size and imgsz and imgsz != size:
            raise ExportError(f"--imgsz {imgsz}: {path} was exported for {size} px (its {METADATA}); its input "
                              "size is fixed")
        size = size or imgsz
        if not size:
            raise ExportError(f"{path}: no {METADATA} beside it; give the size it was exported at with --imgsz")
        names = meta.get("names", {})
        try:
            predict = rt.load(path, threads)
        except Exception as e:  # a truncated or foreign file: the runtime's own words, on one line
            raise ExportError(f"{path}: {rt.name} cannot load it ({one_line(e, 200)})") from None
        det = cls(predict, int(size), names, f"{rt.name} {path.name}")
        det.probe(path, sized_by="--imgsz" if not meta.get("imgsz") else METADATA)
        return det

    def probe(self, path: Path, sized_by: str = "--imgsz") -> None:
        """One prediction on a blank input: the size, the file and the output layout checked before any work."""
        x = np.zeros((1, 3, self.imgsz, self.imgsz), np.float32)
        try:
            pred = np.asarray(self.predict(x))
        except Exception as e:  # noqa: BLE001  the runtime's own words, on one line
            where = f"--imgsz {self.imgsz}" if sized_by == "--imgsz" else f"{path}"
            raise ExportError(f"{where}: {self.label} cannot run it at {self.imgsz} px ({one_line(e, 200)})") from None
        self.check_layout(pred)

    def check_layout(self, pred: np.ndarray) -> None:
        """Refuse an output that is not YOLOv5/YOLOv7's ``(1, N, 5 + nc)`` (never read it as one)."""
        nc = len(self.names) or None
        channels_first = pred.ndim == 3 and (pred.shape[1] == 4 + nc if nc else self._channels_first(pred.shape))
        if pred.ndim == 3 and pred.shape[-1] >= 6 and (pred.shape[-1] == 5 + nc if nc else not channels_first):
            return
        hint = ("; this is ultralytics' layout (1, 4 + nc, N): run it with yolov5-shuffle yolo predict model=..."
                if channels_first else "")
        raise ExportError(f"{self.label}: output {pred.shape} is not YOLOv5/YOLOv7 detections "
                          f"(1, N, 5 + nc{f' = {5 + nc}' if nc else ''}){hint}")

    def _channels_first(self, shape) -> bool:
        """Without class names: (1, 4 + nc, N) or (1, N, 5 + nc)? N is known from the input size: 3 anchors a
        cell of the stride 8/16/32(/64) grids for YOLOv5/YOLOv7, one a cell for ultralytics' anchor-free heads."""
        cells = [sum((self.imgsz // s) ** 2 for s in strides) for strides in ((8, 16, 32), (8, 16, 32, 64))]
        if shape[1] in [3 * c for c in cells]:
            return False
        if shape[2] in cells:
            return True
        return shape[1] < shape[2]  # otherwise: N is the long axis

    def __call__(self, img: np.ndarray, conf: float = DETECT_CONF, iou: float = DETECT_IOU) -> np.ndarray:
        x, r, pad = metrics.letterbox(img, self.imgsz)
        pred = np.asarray(self.predict(x))  # (1, N, 5 + nc) from every runtime
        self.check_layout(pred)
        dets = metrics.non_max_suppression(pred.reshape(-1, pred.shape[-1]), conf, iou)
        return metrics.unletterbox(dets, r, pad, img.shape[:2])


def _summary(dets: np.ndarray, names: dict) -> str:
    if not len(dets):
        return "no detections"
    counts = np.bincount(dets[:, 5].astype(int))
    return ", ".join(f"{n} {names.get(k, k)}" for k, n in enumerate(counts) if n)


def new_run_dir(project: Path, name: str) -> Path:
    """project/name, or name2, name3 ... when it exists (detect.py's increment); made by the caller."""
    project = Path(project)
    if project.exists() and not project.is_dir():
        raise ExportError(f"--project {project}: a file, not a folder")
    d, i = project / name, 2
    while d.exists():
        d, i = project / f"{name}{i}", i + 1
    return d


def detect_files(det: Detector, files: list[Path], out: Path, conf: float = DETECT_CONF, iou: float = DETECT_IOU,
                 log=print) -> list[Path]:
    """Draw ``det``'s detections on each image and on every frame of each video; files go to ``out`` under
    their own names (videos as .mp4). Written whole or not at all: a video is renamed into place when done,
    and a run that fails before writing anything leaves no empty ``out`` folder (nor an empty --project)."""
    made = first_missing(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _detect_each(det, files, out, conf, iou, log)
    except BaseException:
        remove_empty_up_to(out, made)
        raise


def run_detect(weights: Path, source: Path, imgsz: int | None, project: Path, name: str, conf: float,
               log=print) -> Path:
    """``yolov5-shuffle detect --weights <exported model>``: every input checked and the model loaded and
    probed first, then the drawings written to project/name (exp2, exp3 ... when taken)."""
    from ..data.sources import readable_sources

    files, _ = readable_sources(source)
    det = Detector.load(weights, imgsz)
    out = new_run_dir(project, name)
    log(f"{det.label} at {det.imgsz} px")
    with user_path("--project", project):  # a folder we may not write into
        detect_files(det, files, out, conf=conf, log=log)
    return out


def _detect_each(det: Detector, files: list[Path], out: Path, conf: float, iou: float, log) -> list[Path]:
    written = []
    for i, f in enumerate(files, 1):
        if f.suffix.lower() in IMAGE_SUFFIXES:
            img = cv2.imread(str(f))
            t = time.perf_counter()
            dets = det(img, conf, iou)
            ms = (time.perf_counter() - t) * 1e3
            target = out / f.name
            write_image(target, metrics.draw(img, dets, det.names, line_thickness(*img.shape[:2])))
            log(f"image {i}/{len(files)} {f}: {_summary(dets, det.names)}, {ms:.1f} ms")
        else:
            target = _detect_video(det, f, out, conf, iou, f"video {i}/{len(files)}", log)
        written.append(target)
    return written


def write_image(target: Path, img) -> None:
    """The drawn image whole or not at all (cv2.imwrite says nothing on a full disk: encode, then write)."""
    ok, buf = cv2.imencode(target.suffix, img)  # the suffix picks the format
    if not ok:
        raise ExportError(f"{target}: OpenCV cannot write a {target.suffix} image")
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        partial.write_bytes(buf.tobytes())
        partial.replace(target)
    except OSError as e:
        partial.unlink(missing_ok=True)
        full = disk_full(e, target)
        if full:
            raise full from None
        raise


def _detect_video(det: Detector, f: Path, out: Path, conf: float, iou: float, label: str, log) -> Path:
    cap = cv2.VideoCapture(str(f))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    target = out / f"{f.stem}.mp4"
    partial = out / f".{f.stem}.partial.mp4"
    writer = None
    frames, times = 0, []
    done = False
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise ExportError(f"{partial}: OpenCV cannot write an mp4 video here")
            t = time.perf_counter()
            dets = det(frame, conf, iou)
            times.append((time.perf_counter() - t) * 1e3)
            writer.write(metrics.draw(frame, dets, det.names, line_thickness(*frame.shape[:2])))
            frames += 1
            if frames % 25 == 0 or frames == total:
                log(f"{label} {f} frame {frames}/{total}: {_summary(dets, det.names)}, {times[-1]:.1f} ms")
        if not frames:
            raise ExportError(f"source {f}: no frame could be read")
        done = True
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if not done:
            partial.unlink(missing_ok=True)
    partial.replace(target)
    log(f"{label} {f}: {frames} frames, median {np.median(times):.1f} ms per frame -> {target}")
    return target


def evaluate(det: Detector, images: list[Path], progress=None) -> dict:
    """mAP50 and mAP50-95 of ``det`` on labelled images (YOLO labels found as train.py finds them), with
    val.py's thresholds (confidence 0.001, NMS IoU 0.6)."""
    correct, conf, pred_cls, target_cls = [], [], [], []
    for i, f in enumerate(images):
        img = cv2.imread(str(f))
        if img is None:
            raise ExportError(f"{f}: not a readable image")
        labels = metrics.read_labels(label_path(f), img.shape[:2])
        dets = det(img, VAL_CONF, VAL_IOU)
        correct.append(metrics.match(dets, labels))
        conf.append(dets[:, 4])
        pred_cls.append(dets[:, 5])
        target_cls.append(labels[:, 0])
        if progress:
            progress(i + 1, len(images))
    r = metrics.mean_average_precision(np.concatenate(correct), np.concatenate(conf), np.concatenate(pred_cls),
                                         np.concatenate(target_cls))
    r["images"], r["labels"] = len(images), int(sum(len(t) for t in target_cls))
    return r
