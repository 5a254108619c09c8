"""What a detect run reads: images and videos OpenCV can decode, checked before any model runs.

YOLOv5's detect.py stops at the first unreadable file of a folder; the exported-model route has the same
sources. Both check them here: unreadable ones are named and skipped, a source with nothing readable is
refused in one line.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError, user_path

IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv"}


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

    if Path(path).stat().st_size == 0:  # nothing to decode: not handed to FFmpeg, which would say so on stderr too
        return None
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


def _skipped(bad: list[Path], folder: Path, kind: str, shown: int = 3) -> str:
    """One line for the unreadable files of a folder, however many: the count and the first few names."""
    if len(bad) == 1:
        return f"{bad[0]}: not a readable {kind}; skipped"
    names = ", ".join(p.name for p in bad[:shown]) + (f" and {len(bad) - shown} more" if len(bad) > shown else "")
    return f"{folder}: {len(bad)} files are not readable {kind}s ({names}); skipped"


def readable_sources(source: Path) -> tuple[list[Path], bool]:
    """What a detect run will read: an image or video file, or a folder's readable images and videos (the
    unreadable ones skipped, with a warning: one line for the images, counted, the first few named); and
    whether any was skipped. The PyTorch route (detect.py) and the exported-model route check their sources
    here alike."""
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
    with user_path("source", source):  # a folder we may not list
        images, bad = readable_images(source)
        videos, bad_videos = readable_videos(source)
    if bad:
        print(f"warning: {_skipped(bad, source, 'image')}", flush=True)
    for b in bad_videos:
        print(f"warning: {b}: not a readable video; skipped", flush=True)
    if not images and not videos:
        raise UserError(f"source {source}: no readable images or videos in it")
    return sorted(images + videos), bool(bad or bad_videos)


def line_thickness(height: int, width: int) -> int:
    """Box line width for detect.py's annotator (its font scales with it): 1 px up to 400 px images, YOLOv5's
    default 3 from about 1000 px; detect.py's fixed 3 would cover a small image with its labels."""
    return max(1, min(3, round(min(height, width) / 320)))
