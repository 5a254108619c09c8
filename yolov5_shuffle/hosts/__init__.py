"""The YOLO code bases we plug into, one module per host, and the registry that asks them.

A module here that defines ``HOST`` (a :class:`base.Host`) is a host: adding a host is adding a file here
(plus its configs in ``yolov5_shuffle/cfg/<dialect>``), or calling :func:`add` from a module of your own.
Every question about a host goes through this registry: :func:`find` (whose tree is this folder),
:func:`host_for` (whose config), :func:`host_for_checkpoint` (whose checkpoint), :func:`build`,
:func:`load_checkpoint`, :func:`read_checkpoint`, :func:`model_modules` (whose classes a checkpoint may create)
and :func:`torch_load` (the hosts' scripts' ``torch.load``). Each asks the hosts most specific first
(``Host.priority``).

Not host modules (never imported by the registry): ``base``, ``scripts``, and
``ultralytics``, whose import registers our blocks in that package (its adapter is ``ultralytics_host``).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from ..errors import UserError
from .base import Host, PatchError, Tree

_NOT_HOSTS = {"base", "scripts", "ultralytics"}
_ADDED: list[Host] = []
_FOUND: list[Host] = []


def add(host: Host) -> Host:
    """Register a host defined outside this package (a plugin, a test's toy host); returns it."""
    if not isinstance(host, Host):
        raise TypeError(f"{host!r} is not a yolov5_shuffle.hosts.base.Host")
    if host not in _ADDED:
        _ADDED.append(host)
    return host


def all_hosts() -> tuple[Host, ...]:
    if not _FOUND:
        for info in pkgutil.iter_modules(__path__):
            if info.name in _NOT_HOSTS or info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if isinstance(getattr(mod, "HOST", None), Host):
                _FOUND.append(mod.HOST)
    return tuple(sorted((*_FOUND, *_ADDED), key=lambda h: (h.priority, h.name)))


def by_name(name: str) -> Host:
    for h in all_hosts():
        if h.name == name:
            return h
    raise PatchError(f"unknown host {name!r}; known: {', '.join(h.name for h in all_hosts())}")


def dialects() -> tuple[str, ...]:
    """The config dialects, one per host family (folders of yolov5_shuffle/cfg/)."""
    return tuple(dict.fromkeys(h.dialect for h in all_hosts()))


def find(path: Path) -> Tree:
    """The host tree at ``path`` (or raise naming what was looked for)."""
    path = Path(path)
    if not path.is_dir():
        raise PatchError(f"{path}: not a folder")
    for host in all_hosts():
        tree = host.recognise(path)
        if tree is not None:
            return tree
    labels = "; ".join(h.label for h in all_hosts() if type(h).recognise is not Host.recognise)
    raise PatchError(f"{path}: not a YOLOv5 tree, nor another host we know ({labels}): no models/yolo.py with "
                     f"parse_model() and models/common.py in it or in {path}/yolov5")


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
