"""The marker on every line ``patch`` adds, and the one answer to "is this host tree patched?".

Kept apart from the hosts and the patch so that the config check (below both) can ask it too.
"""

from __future__ import annotations

from pathlib import Path

from .blocks import BLOCK_NAMES

MARK = "# yolov5-shuffle"  # every line we add ends in this; "patched" and revert are decided by it


def is_patched(root: Path) -> bool:
    """Whether the tree at ``root`` (the folder of models/yolo.py) can build our blocks: its yolo.py carries our
    marked lines and names every block."""
    yolo = Path(root) / "models" / "yolo.py"
    try:
        text = yolo.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return False
    return MARK in text and all(n in text for n in BLOCK_NAMES)
