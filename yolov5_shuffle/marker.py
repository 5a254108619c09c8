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


def without_our_lines(text: str) -> str:
    """``text`` without the lines that carry the marker: the file as it was before any patch."""
    return "".join(line for line in text.splitlines(keepends=True) if MARK not in line)


def as_older_release(patched: str) -> str:
    """A file as this release patches it, as the older releases patched it (0.1.0, and 0.2.0 before the layer
    check): without the ``check_yaml_args`` line, and without that name in the import. Nothing else that
    ``patch`` writes ever changed (the marker, the other lines, where they go, our configs), so a file equal
    to this is exactly an older release's patch, and this one can upgrade it in place."""
    check = f"check_yaml_args(m, args, i, ch[f], n, gw)  {MARK}"
    lines = [line for line in patched.splitlines(keepends=True) if check not in line]
    return "".join(line.replace(f", check_yaml_args  {MARK}", f"  {MARK}") for line in lines)
