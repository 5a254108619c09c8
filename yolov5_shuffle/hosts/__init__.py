"""The YOLO code bases we plug into, one module per host family.

A module that defines ``HOST`` (a :class:`base.Host`) is a host: adding a host is adding a file here
(plus its configs in ``yolov5_shuffle/cfg/<dialect>``). ``find`` asks every host, most specific first.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from .base import Host, PatchError, Tree


@cache
def all_hosts() -> tuple[Host, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in ("ultralytics",):  # a run-time registration, not a source tree (see that module)
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(mod, "HOST", None), Host):
            found.append(mod.HOST)
    return tuple(sorted(found, key=lambda h: (h.priority, h.name)))


def by_name(name: str) -> Host:
    for h in all_hosts():
        if h.name == name:
            return h
    raise PatchError(f"unknown host {name!r}; known: {', '.join(h.name for h in all_hosts())}")


def find(path: Path) -> Tree:
    """The host tree at ``path`` (or raise naming what was looked for)."""
    path = Path(path)
    if not path.is_dir():
        raise PatchError(f"{path}: not a folder")
    for host in all_hosts():
        tree = host.recognise(path)
        if tree is not None:
            return tree
    labels = "; ".join(h.label for h in all_hosts())
    raise PatchError(f"{path}: not a YOLOv5 tree, nor another host we know ({labels}): no models/yolo.py with "
                     f"parse_model() and models/common.py in it or in {path}/yolov5")
