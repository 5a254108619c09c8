"""Checking an export against the PyTorch model it came from, and the inputs that takes.

:func:`check_against_torch` runs the artefact and the torch model on one fixed structured input
(:func:`sample_image`) and lets the runtime judge the difference (:meth:`Runtime.check`: element-wise
within its tolerance for the float runtimes, by detection scores for int8). :func:`load_images` reads
calibration images (letterboxed as YOLOv5 does); a folder with no readable image is refused by name.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class CalibrationError(UserError, ValueError):
    pass


def sample_image(imgsz: int, seed: int = 0):
    """A fixed structured input (1, 3, imgsz, imgsz) in 0..1: a smooth background, filled boxes and noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:imgsz, 0:imgsz] / imgsz
    img = np.stack([0.3 + 0.2 * xx, 0.4 + 0.2 * yy, 0.5 - 0.2 * xx * yy]).astype(np.float32)
    for _ in range(6):
        x0, y0 = rng.integers(0, imgsz * 3 // 4, 2)
        w, h = rng.integers(imgsz // 10, imgsz // 3, 2)
        img[:, y0:y0 + h, x0:x0 + w] = rng.random(3, dtype=np.float32)[:, None, None]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)[None]


def torch_predict(model, x):
    """The torch model's prediction tensor for an NCHW float32 array."""
    import numpy as np
    import torch

    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x)))
    y = y[0] if isinstance(y, (tuple, list)) else y
    return y.detach().float().numpy()


def compare(y, ref) -> dict:
    """max |y - ref| and the largest |y - ref| / max(|ref|, 1): relative for pixel coordinates, absolute
    for 0..1 scores."""
    import numpy as np

    y = np.asarray(y, dtype=np.float64).reshape(ref.shape)
    d = np.abs(y - ref)
    return {"max_abs_diff": float(d.max()), "rel": float((d / np.maximum(np.abs(ref), 1.0)).max())}


def check_against_torch(model, rt, path, imgsz: int, threads: int = 1, x=None) -> dict:
    """Run the exported model with the runtime ``rt`` (a :class:`~.runtimes.base.Runtime`: this module is below
    the registry) and the torch model on one fixed input; the runtime's verdict as a dict with ``ok``, ``tol``,
    ``max_abs_diff``, ``rel`` and ``check`` (one line saying what was compared, and why that bound)."""
    import numpy as np

    x = sample_image(imgsz) if x is None else x
    ref = torch_predict(model, x).astype(np.float64)
    y = np.asarray(rt.load(Path(path), threads)(x))
    if y.size != ref.size:
        return {"max_abs_diff": float("inf"), "rel": float("inf"), "ok": False, "tol": rt.tolerance,
                "check": f"output shape {y.shape} != torch {ref.shape}", "error": "shape"}
    return {**rt.check(y.reshape(ref.shape), ref), "tol": rt.tolerance}


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _letterboxed(path: Path, imgsz: int):
    import numpy as np
    from PIL import Image

    try:
        im = Image.open(path).convert("RGB")
    except Exception as e:  # noqa: BLE001  PIL's errors, and those of plugins others register (HEIF ...)
        raise CalibrationError(f"calibration image {path}: not a readable image ({str(e).splitlines()[0][:120]})") \
            from None
    r = imgsz / max(im.size)
    w, h = max(1, round(im.width * r)), max(1, round(im.height * r))
    canvas = Image.new("RGB", (imgsz, imgsz), (114, 114, 114))
    canvas.paste(im.resize((w, h), Image.BILINEAR), ((imgsz - w) // 2, (imgsz - h) // 2))
    return np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255.0


def load_images(calib_images, imgsz: int, limit: int = 64):
    """Calibration/test images as a (N, 3, imgsz, imgsz) float32 RGB 0..1 array.

    Accepts an array (N, 3, imgsz, imgsz) already in that form, a folder, or an iterable of image paths
    (letterboxed to imgsz with grey 114 padding, as YOLOv5 does). An empty folder, or a file that is not
    an image, is a :class:`CalibrationError` naming it."""
    import numpy as np

    if calib_images is None:
        raise CalibrationError("no calibration images: give a folder, image paths, or an (N, 3, H, W) array")
    if isinstance(calib_images, np.ndarray) or type(calib_images).__module__.startswith("torch"):
        a = np.asarray(calib_images, dtype=np.float32)
        if a.ndim != 4 or a.shape[1:] != (3, imgsz, imgsz) or not len(a):
            raise CalibrationError(f"calibration array must be (N, 3, {imgsz}, {imgsz}), got {a.shape}")
        return a[:limit]
    source = calib_images
    if isinstance(calib_images, (str, Path)):
        if not Path(calib_images).is_dir():
            raise CalibrationError(f"calibration images {calib_images}: not a folder")
        calib_images = _image_files(calib_images)
    out = []
    for p in calib_images:
        if len(out) >= limit:
            break
        out.append(np.asarray(p, dtype=np.float32).reshape(3, imgsz, imgsz) if isinstance(p, np.ndarray)
                   else _letterboxed(Path(p), imgsz))
    if not out:
        where = f" in {source}" if isinstance(source, (str, Path)) else ""
        raise CalibrationError(f"no calibration images{where} ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return np.stack(out).astype(np.float32)
