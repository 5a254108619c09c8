"""Load a ``.pt`` checkpoint without running code from it: ``torch.load(weights_only=True)`` plus an allowlist.

YOLOv5, YOLOv7 and our own checkpoints pickle whole models, which plain unpickling rebuilds by calling
whatever the file names: a file from a stranger can run any code. Here the pickle is read first
(:func:`scan`): every global it names must be on the allowlist, and classes may only be *created*
(the NEWOBJ a pickled ``nn.Module`` uses), never *called* (the REDUCE a payload uses, which for a host
``Model`` would build a config whose strings its ``parse_model`` evals). Allowed:

* ``nn.Module`` classes of torch, of :mod:`yolov5_shuffle.blocks` and of the host's model modules already
  imported in this process (``modules``: ``models.*``, ``yolov5.models.*``; nothing is imported by a name
  the file gives);
* torch's own rebuild functions, and the builtins and numpy types genuine checkpoints hold (sets, numpy
  scalars and arrays, dtypes).

Anything else is refused in one line (:class:`CheckpointRefused`, a :class:`~yolov5_shuffle.errors.UserError`)
that names the first global outside the list and how to proceed for a file you trust: set
``YOLOV5_SHUFFLE_TRUST_CHECKPOINTS=1`` (then the file is unpickled as torch did before 2.6: it can run code).
The vendored host trees load through :func:`load` too (the vendor fix ``torch_load_safe``).
"""

from __future__ import annotations

import _compat_pickle
import importlib
import os
import pickletools
import sys
import zipfile
from pathlib import Path

from .errors import UserError

TRUST_ENV = "YOLOV5_SHUFFLE_TRUST_CHECKPOINTS"
HOST_MODULES = ("models.", "yolov5.models.")  # where YOLOv5-family trees define their layers
# Callables a genuine checkpoint REDUCEs besides torch's own rebuild functions (torch decides on those).
SAFE_CALLS = {"builtins.set", "builtins.frozenset", "collections.OrderedDict", "numpy.dtype",
              "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
              "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"}
SAFE_TYPES = {"numpy.ndarray"}  # plus numpy.dtypes.*DType
IMPORTABLE = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.dtypes", "builtins", "collections")
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


class CheckpointRefused(UserError):
    """The file needs something a genuine checkpoint does not hold (or is not a checkpoint at all)."""


def trusted() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def _pickle_bytes(path: Path) -> bytes:
    """The one pickle of a torch zip. Two (or one name twice) are refused: torch reads ``<first folder>/data.pkl``
    and this scan must read that same one, not a harmless decoy beside it."""
    try:
        with zipfile.ZipFile(path) as z:
            pickles = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) > 1:
                raise CheckpointRefused(f"weights {path}: refused: it holds {len(pickles)} data.pkl pickles "
                                        f"({', '.join(pickles[:3])}); a genuine checkpoint has one")
            return z.read(pickles[0])
    except (zipfile.BadZipFile, IndexError, OSError, EOFError):
        raise CheckpointRefused(f"weights {path}: not a PyTorch checkpoint (a zip archive holding data.pkl; "
                                "truncated, or another format)") from None


def _name(module: str, attr: str) -> str:
    """module.attr as Python 3 spells it (protocol 2 writes Python 2 names such as __builtin__.set)."""
    if (module, attr) in _compat_pickle.NAME_MAPPING:
        module, attr = _compat_pickle.NAME_MAPPING[(module, attr)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{attr}"


def _pop_to_mark(stack: list) -> None:
    while stack and stack.pop() != ("mark",):
        pass


def scan(data: bytes) -> tuple[set[str], set[str], set[str]]:
    """(every global named, the ones created by NEWOBJ, the ones called by REDUCE) of a pickle, by reading its
    opcodes with a symbolic stack (nothing is unpickled). Raises ValueError for a broken stream."""
    stack: list = []
    memo: dict = {}
    names, made, called = set(), set(), set()
    for op, arg, _ in pickletools.genops(data):
        n = op.name
        if n in _STRINGS:
            stack.append(("str", arg))
        elif n in ("GLOBAL", "INST"):
            if n == "INST":
                raise ValueError(f"INST {arg}")
            name = _name(*arg.split(" ", 1))
            names.add(name)
            stack.append(("global", name))
        elif n == "STACK_GLOBAL":
            qual, mod = stack.pop(), stack.pop()
            name = _name(mod[1], qual[1]) if mod[0] == qual[0] == "str" else "?"
            names.add(name)
            stack.append(("global", name))
        elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif n == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif n in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif n == "MARK":
            stack.append(("mark",))
        elif n == "DUP":
            stack.append(stack[-1])
        elif n in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ"):
            if n == "NEWOBJ_EX":
                stack.pop()
            if n == "OBJ":
                _pop_to_mark(stack)  # OBJ: mark, class, args...; refused below as a call
                stack.append(("global", "?"))
            if n != "OBJ":
                stack.pop()  # the arguments
            target = stack.pop()
            name = target[1] if target[0] == "global" else "?"
            (made if n in ("NEWOBJ", "NEWOBJ_EX") else called).add(name)
            stack.append(("obj",))
        else:
            before, after = op.stack_before, op.stack_after
            if pickletools.markobject in before:
                _pop_to_mark(stack)
                before = before[:before.index(pickletools.markobject)]
            for _ in before:
                stack.pop()
            stack.extend([("obj",)] * len(after))
    return names, made, called


def global_names(path: Path) -> set[str]:
    """Every ``module.name`` the checkpoint's pickle refers to (read, not unpickled): whose checkpoint it is."""
    try:
        return scan(_pickle_bytes(Path(path)))[0]
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise CheckpointRefused(f"weights {path}: not a readable PyTorch checkpoint (broken pickle: {e})") from None


def _resolve(name: str, modules: tuple[str, ...]):
    """The object a global name stands for, from modules already imported (or a few safe ones), else None."""
    mod, _, attr = name.rpartition(".")
    m = sys.modules.get(mod)
    if m is None and (mod in IMPORTABLE or mod.startswith(("torch.", *modules))):  # the host's own layers
        try:
            m = importlib.import_module(mod)
        except ImportError:
            return None
    return getattr(m, attr, None) if m is not None and "." not in attr else None


def _allowed_class(obj, modules: tuple[str, ...]) -> bool:
    import torch.nn as nn

    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        return False
    where = obj.__module__
    return (where.startswith("torch.nn.") or where == "yolov5_shuffle.blocks"
            or any(where.startswith(p) for p in modules))


def _torch_own(name: str) -> bool:
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return name in _get_allowed_globals()
    except ImportError:  # pragma: no cover - older torch: its rebuild helpers by name
        return name.startswith(("torch._utils._rebuild", "torch."))


def check_calls(path: Path) -> None:
    """Refuse, before any host script unpickles it, a file that is not a checkpoint, is truncated, or whose
    pickle calls anything a genuine checkpoint does not (read, not unpickled)."""
    _scan_file(Path(path))


def _scan_file(path: Path, calls: frozenset = frozenset()) -> tuple[set[str], set[str]]:
    """The globals a checkpoint's pickle names and creates, refusing a broken pickle or one that calls anything a
    genuine checkpoint does not (``calls``: what the host's own checkpoints call besides)."""
    try:
        names, made, called = scan(_pickle_bytes(path))
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise CheckpointRefused(f"weights {path}: not a readable PyTorch checkpoint (broken pickle: {e})") from None
    _refuse_calls(path, called - calls)
    return names, made


def _refuse_calls(path: Path, called: set[str]) -> None:
    for name in sorted(called):
        if name not in SAFE_CALLS and not _torch_own(name):
            raise CheckpointRefused(f"weights {path}: refused: its pickle calls {name}, which a genuine checkpoint "
                                    f"never does (loading it could run code from the file); {_HOW}")


_HOW = f"if you trust this file, set {TRUST_ENV}=1 to load it with plain unpickling (it can then run code)"


def allowlist(path: Path, modules: tuple[str, ...] = HOST_MODULES, calls: frozenset = frozenset()) -> list:
    """The objects to pass to ``torch.serialization.safe_globals`` for this file, or CheckpointRefused naming the
    first global a genuine checkpoint would not hold (``calls``: full names the host's genuine checkpoints call
    besides, such as a plain namespace class rebuilt by REDUCE)."""
    path = Path(path)
    names, _ = _scan_file(path, calls)
    objects = []
    for name in sorted(names):
        if _torch_own(name):
            continue
        obj = _resolve(name, modules)
        ok = obj is not None and (name in SAFE_CALLS or name in SAFE_TYPES or _allowed_class(obj, modules)
                                  or name in calls
                                  or (name.startswith("numpy.dtypes.") and isinstance(obj, type)))
        if not ok:
            raise CheckpointRefused(f"weights {path}: refused: it needs {name}, which is not a layer of torch, of "
                                    f"yolov5-shuffle or of the loaded host, nor a type checkpoints hold; {_HOW}")
        objects.append(obj)
    if "numpy.dtype" in names:  # a dtype is rebuilt as numpy.dtype(...) but its BUILD sees its concrete class
        import numpy

        objects += [t for t in vars(getattr(numpy, "dtypes", numpy)).values()
                    if isinstance(t, type) and issubclass(t, numpy.dtype)]
    return objects


def load(f, map_location=None, **kwargs):
    """``torch.load`` for checkpoints: weights_only with the allowlist; ``weights_only``/``pickle_module`` given
    by the caller are ignored. A file-like object or a non-checkpoint path goes to plain weights_only loading.
    ``modules``: where the host's layer classes live; ``calls``: what its genuine checkpoints call besides."""
    import torch

    kwargs.pop("weights_only", None)
    modules = tuple(kwargs.pop("modules", HOST_MODULES))
    calls = frozenset(kwargs.pop("calls", ()))
    if trusted():
        return torch.load(f, map_location=map_location, weights_only=False, **kwargs)
    if not isinstance(f, (str, os.PathLike)):
        return torch.load(f, map_location=map_location, weights_only=True, **kwargs)
    objects = allowlist(Path(f), modules, calls)
    with torch.serialization.safe_globals(objects):
        return torch.load(f, map_location=map_location, weights_only=True, **kwargs)
