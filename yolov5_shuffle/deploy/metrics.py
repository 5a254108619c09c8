"""Detection maths on plain arrays, for models run outside PyTorch: letterbox, NMS, mAP, drawing.

An exported YOLOv5/YOLOv7 model gives ``(1, N, 5 + nc)`` rows ``[cx, cy, w, h, objectness, class
scores...]`` in pixels of the letterboxed input. These functions turn that into boxes on the original
image and score them against YOLO-format labels: detections matched as YOLOv5's ``val.py`` matches them
(confidence = objectness x class score, one label per detection at each IoU threshold), AP as
ultralytics computes it (101-point interpolation). The mAP of a model in any deploy runtime is thus
comparable with the PyTorch model's scored by the same code. No YOLOv5 import.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torchvision

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # mAP50-95; index 0 is mAP50
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed it


def letterbox(img: np.ndarray, size: int, color=(114, 114, 114)) -> tuple[np.ndarray, float, tuple[float, float]]:
    """A BGR image resized to fit ``size`` x ``size`` (aspect kept, grey borders centred), as the model's
    (1, 3, size, size) RGB float 0..1 input, with the scale ``r`` and padding ``(dw, dh)`` to undo it."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    dw, dh = (size - nw) / 2, (size - nh) / 2
    if (nw, nh) != (w, h):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = round(dh - 0.1), round(dw - 0.1)
    img = cv2.copyMakeBorder(img, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=color)
    x = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)[None] / 255.0
    return x, r, (dw, dh)


def xywh2xyxy(b: np.ndarray) -> np.ndarray:
    out = np.empty_like(b)
    out[:, :2] = b[:, :2] - b[:, 2:4] / 2
    out[:, 2:4] = b[:, :2] + b[:, 2:4] / 2
    return out


def non_max_suppression(pred: np.ndarray, conf: float = 0.25, iou: float = 0.45, max_det: int = 300) -> np.ndarray:
    """One image's ``(N, 5 + nc)`` prediction -> ``(M, 6)`` rows ``[x1, y1, x2, y2, confidence, class]``.

    Confidence is objectness x best class score, boxes below ``conf`` are dropped, and NMS runs per
    class (YOLOv5's single-label mode)."""
    pred = np.asarray(pred, dtype=np.float32).reshape(-1, pred.shape[-1])
    pred = pred[pred[:, 4] > conf]
    if not len(pred):
        return np.zeros((0, 6), np.float32)
    scores = pred[:, 5:] * pred[:, 4:5]
    cls = scores.argmax(1)
    best = scores[np.arange(len(cls)), cls]
    keep = best > conf
    boxes, best, cls = xywh2xyxy(pred[keep, :4]), best[keep], cls[keep]
    if not len(boxes):
        return np.zeros((0, 6), np.float32)
    idx = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(best), torch.from_numpy(cls), iou)
    idx = idx[:max_det].numpy()
    return np.concatenate([boxes[idx], best[idx, None], cls[idx, None].astype(np.float32)], 1)


def unletterbox(dets: np.ndarray, r: float, pad: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    """Boxes from letterboxed-input pixels back to the original image (clipped to it)."""
    out = dets.copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - pad[0]) / r).clip(0, shape[1])
    out[:, [1, 3]] = ((out[:, [1, 3]] - pad[1]) / r).clip(0, shape[0])
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torchvision.ops.box_iou(torch.from_numpy(a[:, :4]).float(), torch.from_numpy(b[:, :4]).float()).numpy()


def match(dets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(M, 10)`` booleans: whether each detection is a true positive at each IoU threshold.

    ``labels`` are ``(L, 5)`` rows ``[class, x1, y1, x2, y2]`` in the same pixels; each label is taken by
    at most one detection per threshold, highest IoU first (YOLOv5's ``process_batch``)."""
    correct = np.zeros((len(dets), len(IOU_THRESHOLDS)), bool)
    if not len(dets) or not len(labels):
        return correct
    iou = box_iou(labels[:, 1:], dets)
    same_class = labels[:, :1] == dets[:, 5]
    for i, t in enumerate(IOU_THRESHOLDS):
        li, di = np.nonzero((iou >= t) & same_class)
        if not len(li):
            continue
        pairs = np.stack([li, di, iou[li, di]], 1)
        pairs = pairs[pairs[:, 2].argsort()[::-1]]
        pairs = pairs[np.unique(pairs[:, 1], return_index=True)[1]]
        pairs = pairs[np.unique(pairs[:, 0], return_index=True)[1]]
        correct[pairs[:, 1].astype(int), i] = True
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope, sampled at 101 recall points (COCO's interpolation) and integrated
    with the trapezoid rule, as ultralytics does: precision is 0 beyond the highest recall reached (YOLOv5's
    val.py instead ramps it down to recall 1, which scores a detector that misses objects a little higher).
    A perfect detector scores 0.995 here as there."""
    last = recall[-1] if len(recall) else 1.0
    r = np.concatenate(([0.0], recall, [last, 1.0]))
    p = np.flip(np.maximum.accumulate(np.flip(np.concatenate(([1.0], precision, [0.0, 0.0])))))
    x = np.linspace(0, 1, 101)
    return float(_trapezoid(np.interp(x, r, p), x))


def mean_average_precision(correct: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray,
                           target_cls: np.ndarray) -> dict:
    """mAP50 and mAP50-95 over the classes that have labels, from every detection of a dataset."""
    order = np.argsort(-conf, kind="stable")
    correct, pred_cls = correct[order], pred_cls[order]
    classes = np.unique(target_cls)
    ap = np.zeros((len(classes), len(IOU_THRESHOLDS)))
    for ci, c in enumerate(classes):
        hit = pred_cls == c
        n_labels = int((target_cls == c).sum())
        if not hit.any():
            continue
        tp = np.cumsum(correct[hit], 0)
        fp = np.cumsum(~correct[hit], 0)
        for j in range(len(IOU_THRESHOLDS)):
            ap[ci, j] = average_precision(tp[:, j] / n_labels, tp[:, j] / (tp[:, j] + fp[:, j]))
    if not len(classes):
        return {"mAP50": 0.0, "mAP50-95": 0.0}
    return {"mAP50": float(ap[:, 0].mean()), "mAP50-95": float(ap.mean())}


def read_labels(path, shape: tuple[int, int]) -> np.ndarray:
    """A YOLO label file (class cx cy w h, normalised) as ``(L, 5)`` rows ``[class, x1, y1, x2, y2]`` in pixels."""
    try:
        rows = np.loadtxt(path, ndmin=2, dtype=np.float32)
    except OSError:
        rows = np.zeros((0, 5), np.float32)
    if not rows.size:
        return np.zeros((0, 5), np.float32)
    h, w = shape
    boxes = xywh2xyxy(rows[:, 1:5] * np.array([w, h, w, h], np.float32))
    return np.concatenate([rows[:, :1], boxes], 1)


def colour(i: int) -> tuple[int, int, int]:
    """A distinct BGR colour per class."""
    hue = (i * 47) % 180
    return tuple(int(v) for v in cv2.cvtColor(np.uint8([[[hue, 200, 230]]]), cv2.COLOR_HSV2BGR)[0, 0])


def draw(img: np.ndarray, dets: np.ndarray, names: dict[int, str], thickness: int = 2) -> np.ndarray:
    """Boxes with ``name confidence`` labels drawn on a copy of a BGR image (OpenCV's built-in font: no download)."""
    img = img.copy()
    scale = max(thickness / 3, 0.35)
    for x1, y1, x2, y2, c, k in dets:
        col = colour(int(k))
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), col, thickness, cv2.LINE_AA)
        text = f"{names.get(int(k), int(k))} {c:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(thickness - 1, 1))
        y = max(int(y1), th + base)
        cv2.rectangle(img, (int(x1), y - th - base), (int(x1) + tw, y), col, -1)
        cv2.putText(img, text, (int(x1), y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(thickness - 1, 1), cv2.LINE_AA)
    return img
