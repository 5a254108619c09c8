"""The runtimes, one module each: adding a runtime is adding a file here.

A module in this folder that defines ``RUNTIME`` (a :class:`base.Runtime`), or ``RUNTIMES`` (several,
e.g. one per precision, or PyTorch's modes in ``pytorch.py``), is registered. ``export`` (the
:func:`exportable` ones), ``detect`` with an exported model, ``bench``, ``pick`` and the yardstick's
report ask this registry and its runtimes' attributes, and write no runtime name of their own.
Importing it is cheap (the runtime modules import their packages inside their methods), so the
command line lists the names without importing torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from ...errors import UnknownChoice
from .base import Runtime


@cache
def all_runtimes() -> tuple[Runtime, ...]:
    """The runtimes of this folder's modules, found once (``cache_clear()`` finds them again)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for rt in (getattr(mod, "RUNTIME", None), *getattr(mod, "RUNTIMES", ())):
            if isinstance(rt, Runtime):
                found.append(rt)
    return tuple(sorted(found, key=lambda r: (r.order, r.name)))


def names() -> tuple[str, ...]:
    return tuple(r.name for r in all_runtimes())


def exportable() -> tuple[Runtime, ...]:
    """The runtimes ``export`` writes an artefact for (PyTorch's own modes run the model in memory)."""
    return tuple(r for r in all_runtimes() if r.exportable)


def by_name(name: str) -> Runtime:
    for r in all_runtimes():
        if r.name == name:
            return r
    raise UnknownChoice("runtime", name, names())


def available(name: str) -> tuple[bool, str]:
    """(True, versions) or (False, why, with the pip package to install); unknown names say so."""
    try:
        return by_name(name).available()
    except UnknownChoice as e:
        return False, str(e)


def for_artefact(path: Path) -> Runtime | None:
    """The runtime whose artefact ``path`` is (the most specific owner), or None."""
    owners = [r for r in exportable() if r.owns(Path(path))]
    return max(owners, key=lambda r: r.specificity) if owners else None
