"""The YOLO code bases we plug into, one module per host, and the registry that asks them.

A module (or package) here that defines ``HOST`` (a :class:`base.Host`) is a host: adding a host is adding a
file here (plus its configs in ``yolov5_shuffle/cfg/<dialect>``), or calling :func:`add` from a module of your own.
Every question about a host goes through this registry: :func:`find` (whose tree is this folder),
:func:`host_for` (whose config), :func:`host_for_checkpoint` (whose checkpoint), :func:`build`,
:func:`load_checkpoint`, :func:`read_checkpoint`, :func:`model_modules` (whose classes a checkpoint may create)
and :func:`torch_load` (the hosts' scripts' ``torch.load``). Each asks the hosts most specific first
(``Host.priority``).

Running a host tree's own scripts (which may vendor and patch the tree first) is
:mod:`yolov5_shuffle.host_scripts`, above this package and ``patching``.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from ..errors import UnknownChoice, UserError, user_path
from .base import Host, PatchError, Tree

_ADDED: list[Host] = []


def add(host: Host) -> Host:
    """Register a host defined outside this package (a plugin, a test's toy host); returns it."""
    if not isinstance(host, Host):
        raise TypeError(f"{host!r} is not a yolov5_shuffle.hosts.base.Host")
    if host not in _ADDED:
        _ADDED.append(host)
    return host


@cache
def _found() -> tuple[Host, ...]:
    """The hosts of this folder's modules, found once (``cache_clear()`` finds them again)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(mod, "HOST", None), Host):
            found.append(mod.HOST)
    return tuple(found)


def all_hosts() -> tuple[Host, ...]:
    return tuple(sorted((*_found(), *_ADDED), key=lambda h: (h.priority, h.name)))


def names() -> tuple[str, ...]:
    return tuple(h.name for h in all_hosts())


def by_name(name: str) -> Host:
    for h in all_hosts():
        if h.name == name:
            return h
    raise UnknownChoice("host", name, names())


def for_command(name: str) -> Host:
    """The host whose own command line ``yolov5-shuffle <name>`` passes through (``Host.command``)."""
    for h in all_hosts():
        if h.command == name:
            return h
    raise UnknownChoice("host command", name, [h.command for h in all_hosts() if h.command])


def dialects() -> tuple[str, ...]:
    """The config dialects, one per host family (folders of yolov5_shuffle/cfg/)."""
    return tuple(dict.fromkeys(h.dialect for h in all_hosts()))


def find(path: Path) -> Tree:
    """The host tree at ``path`` (or raise naming what was looked for)."""
    path = Path(path)
    if not path.is_dir():
        raise PatchError(f"{path}: not a folder")
    for host in all_hosts():
        with user_path("tree", path):  # a source file we may not read: the user's to fix
            tree = host.recognise(path)
        if tree is not None:
            return tree
    signs = "; ".join(f"{h.label}: {h.tree_signs}" for h in all_hosts() if h.tree_signs)
    raise PatchError(f"{path}: not the source tree of a host we know ({signs})")


def host_for(cfg: str | Path) -> Host:
    """The host whose dialect a config (name or path) is written in."""
    for host in all_hosts():
        if host.owns_config(cfg):
            return host
    raise UserError(f"config {cfg}: no host builds it")


def model_modules() -> tuple[str, ...]:
    """Where the hosts' pickled layers live (module prefixes, ``Host.checkpoint_modules``): the classes other than
    torch's and ours that a checkpoint may create, once the host's code that defines them is imported."""
    return tuple(dict.fromkeys(m for h in all_hosts() for m in h.checkpoint_modules))


def host_for_checkpoint(path: Path) -> Host:
    """The host that wrote a checkpoint, from the classes its pickle uses; a file that is not a checkpoint, or
    whose pickle does what a genuine one never does, is refused first (CheckpointRefused), before anything (our
    code, the host's scripts, ultralytics) loads it."""
    from ..untrusted.checkpoint import check_calls

    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights {path}: no such file ({path.resolve()})" if not path.exists()
                        else f"weights {path}: not a file")
    names = check_calls(path, modules=model_modules())
    owner = next((h for h in all_hosts() if h.owns_checkpoint(names)), None)
    if owner is None:
        raise UserError(f"weights {path}: not a training checkpoint of a host we know "
                        f"({', '.join(h.label for h in all_hosts())}): it holds no YOLO model")
    return owner


def read_checkpoint(path: Path):
    """A host's whole training checkpoint (the dict its trainer saved), loaded as a stranger's file once the host
    has imported the code that defines its layers."""
    from ..untrusted.checkpoint import load

    owner = host_for_checkpoint(path)
    owner.import_model_code()
    return load(Path(path), map_location="cpu", modules=owner.checkpoint_modules)


def torch_load(f, map_location=None, **kwargs):
    """``torch.load`` as the hosts' own scripts call it (the vendor fix ``torch_load_safe`` rewrites every call to
    this): a checkpoint from anyone, whose classes may be those of every host's model code, imported by the host
    whose code this process runs."""
    from ..untrusted.checkpoint import load

    for host in all_hosts():
        host.import_code_in_use()
    return load(f, map_location=map_location, modules=model_modules(), **kwargs)


def build(cfg: str | Path, nc: int | None = 80, fused: bool = True):
    """The model of ``cfg`` built by its host: fused and in eval mode, or as training starts (``fused=False``)."""
    return host_for(cfg).build(cfg, nc=nc, fused=fused)


def load_checkpoint(path: Path):
    """(fused eval model in export form, {id: class name}, stride) of a training checkpoint, by its host."""
    return host_for_checkpoint(path).load_checkpoint(Path(path))
