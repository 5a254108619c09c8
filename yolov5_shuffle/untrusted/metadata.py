"""An exported model's ``metadata.yaml`` read as plain, bounded data, then checked against what export writes.

``yolov5-shuffle export`` writes ``imgsz``, ``stride``, ``names`` (class id -> name), ``weights`` and
``weights_sha256`` beside the artefacts; ``detect`` and ``export`` read it back from folders that may come
from anyone. The file is read within bounds (:mod:`.bounded`: at most :data:`MAX_BYTES`, no anchors or
aliases, at most :data:`MAX_NAMES` names), then each key is checked before any of it sizes an input or
labels a box: ``imgsz`` a size the export flag accepts (``100000`` would allocate 112 GiB), ``names`` a
mapping of class ids (whole numbers, or digit strings) or a list (YOLOv5's own form) of names.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..argtypes import image_size_problem
from ..errors import UserError
from . import bounded

MAX_BYTES = 2 ** 20
MAX_NAMES = 20_000  # LVIS has 1203 classes
MAX_DEPTH = 8
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MetadataError(UserError):
    """An exported model's metadata.yaml that export would not have written."""


def read_metadata(path: Path) -> dict:
    """The checked contents of a metadata.yaml file: ``imgsz`` and ``stride`` ints, ``names`` ``{int: str}``,
    ``weights`` and ``weights_sha256`` strings, where present; MetadataError naming the file and the key."""
    path = Path(path)
    meta = bounded.load_yaml(path, "export metadata", limit=MAX_BYTES, max_nodes=2 * MAX_NAMES + 64,
                             max_depth=MAX_DEPTH, error=MetadataError)
    where = f"export metadata {path}"
    if not isinstance(meta, dict):
        raise MetadataError(f"{where}: expected a mapping with imgsz and names, got {type(meta).__name__}")
    out = dict(meta)
    if "imgsz" in meta:
        problem = image_size_problem(meta["imgsz"])
        if problem:
            raise MetadataError(f"{where}: imgsz {problem} (the sizes export writes)")
    if "stride" in meta:
        s = meta["stride"]
        if not (isinstance(s, int) and not isinstance(s, bool) and s in (8, 16, 32, 64, 128)):
            raise MetadataError(f"{where}: stride must be 8, 16, 32, 64 or 128, got {s!r:.40}")
        if isinstance(meta.get("imgsz"), int) and meta["imgsz"] % s:
            raise MetadataError(f"{where}: imgsz {meta['imgsz']} is not a multiple of its stride {s}")
    if "names" in meta:
        out["names"] = _names(meta["names"], where)
    for key in ("weights", "weights_sha256"):
        if key in meta and not isinstance(meta[key], str):
            raise MetadataError(f"{where}: {key} must be a string, got {type(meta[key]).__name__}")
    if "weights_sha256" in meta and not SHA256.match(meta["weights_sha256"]):
        raise MetadataError(f"{where}: weights_sha256 must be 64 lowercase hex digits, got "
                            f"{meta['weights_sha256']!r:.80}")
    return out


def _names(names: object, where: str) -> dict[int, str]:
    """``{id: name}`` from a mapping (ids whole numbers >= 0 or digit strings) or a list; names strings (a number
    is taken as its text)."""
    if names is None:
        return {}
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        raise MetadataError(f"{where}: names must be a mapping of class id to name, or a list of names; got "
                            f"{type(names).__name__}")
    out: dict[int, str] = {}
    for k, v in names.items():
        if isinstance(k, str) and k.isascii() and k.isdigit():
            k = int(k)
        if not (isinstance(k, int) and not isinstance(k, bool) and k >= 0):
            raise MetadataError(f"{where}: names: class id {k!r:.40} is not a whole number >= 0")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise MetadataError(f"{where}: names: class {k}: the name must be a string, got {type(v).__name__}")
        if k in out:
            raise MetadataError(f"{where}: names: class id {k} given twice")
        out[k] = str(v)
    return out
