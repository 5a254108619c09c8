"""Load a ``.pt`` checkpoint a stranger gave us without running code from it, at a bounded cost.

YOLOv5, YOLOv7, ultralytics' and our own checkpoints pickle whole models, and plain unpickling rebuilds
them by calling whatever the file names. Here the file is read in two steps, and the checks run in the
unpickler that torch itself drives, so the pickle checked is the pickle loaded, however the zip is laid out:

1. The zip (:func:`_layout`), before torch reads a record of it: a zip archive whose records all sit in
   one folder, uncompressed (torch writes them stored: a compressed record could expand without bound),
   at most :data:`MAX_RECORDS` of them, one ``data.pkl`` of at most :data:`MAX_PICKLE_BYTES`, no two
   names that differ only in case (torch's reader ignores case), and the same records and offsets in
   torch's reader as in Python's. A non-zip is refused (a torch < 1.6 legacy file by name).
2. The pickle, by ``torch.load(pickle_module=...)`` with :class:`_Unpickler`: globals resolve only from an
   explicit allowlist of objects already imported (never ``importlib``, never a module's ``__getattr__``);
   classes may be *created* (NEWOBJ, as pickled ``nn.Module``s are), never *called*; the only calls are to
   torch's tensor-rebuild functions and a few builtin, torch and numpy constructors, each with its
   arguments checked (a tensor inside its storage, a storage its record's size, no function smuggled into
   ``_rebuild_from_type_v2``); and every opcode and copied item counts against :data:`MAX_STEPS` and
   :data:`MAX_SECONDS`.

Classes a checkpoint may create: ``nn.Module`` classes of ``torch.nn`` and :mod:`yolov5_shuffle.blocks`, and
classes of the host model modules the caller names (``modules``: the registry's
``Host.checkpoint_modules``) that are already imported (the host imports its model code first).

Anything else is a :class:`CheckpointRefused` (a :class:`~yolov5_shuffle.errors.UserError`: one line, exit
2) naming what the file needed. A file you trust: ``YOLOV5_SHUFFLE_TRUST_CHECKPOINTS=1`` unpickles it
plainly (it can then run code). The vendored host trees load through :func:`load` too (the vendor fix
``torch_load_safe``).
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import functools
import os
import pickle
import re
import struct
import sys
import time
import types
import zipfile
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

TRUST_ENV = "YOLOV5_SHUFFLE_TRUST_CHECKPOINTS"
MAX_RECORDS = 100_000  # a genuine checkpoint holds one per tensor storage: a few thousand
MAX_PICKLE_BYTES = 32 << 20  # genuine: model, EMA and optimizer of yolov5x6 pickle to 0.5 MiB
MAX_DIRECTORY_BYTES = 64 << 20  # the zip's central directory, read whole before any record
MAX_STEPS = 2_000_000  # opcodes plus items copied by one; genuine: about 200 k for yolov5x6 or yolo11x
MAX_SECONDS = 10.0  # reading the pickle, not counting the tensor data
_ZIP = b"PK\x03\x04"
_LEGACY = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # torch < 1.6 files start with this number
_HOW = f"if you trust this file, set {TRUST_ENV}=1 to load it with plain unpickling (it can then run code)"


class CheckpointRefused(UserError):
    """The file needs something a genuine checkpoint does not hold (or is not a checkpoint at all)."""


def trusted() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


# ------------------------------------------------------------------------------------------------ public
def load(f, map_location=None, *, modules: tuple[str, ...] = (), **kwargs):
    """``torch.load`` for a checkpoint from anyone: the zip checked, then unpickled by :class:`_Unpickler`
    (``modules``: the host model module prefixes whose classes it may create; they must be imported already).
    ``weights_only``/``pickle_module`` given by a caller are ignored. ``f``: a path or a seekable binary file."""
    import torch

    kwargs.pop("weights_only", None)
    kwargs.pop("pickle_module", None)
    if trusted():
        return torch.load(f, map_location=map_location, weights_only=False, **kwargs)
    with _opened(f) as (fh, path):
        obj = _unpickle(fh, path, _layout(fh, path), map_location, tuple(modules), dry=False, **kwargs)
    _check_embedded_yaml(obj, path)
    return obj


def check_calls(path: Path, modules: tuple[str, ...] = ()) -> set[str]:
    """Refuse a file that is not a checkpoint or whose pickle does anything a genuine checkpoint does not, before
    anything else reads it (a host's script, ultralytics); else the ``module.name`` of every global it uses: whose
    checkpoint it is. The same unpickling as :func:`load`, with tensors on torch's ``meta`` device (no data read)
    and the classes of ``modules`` not imported here standing in for themselves (created, never called)."""
    names: set[str] = set()
    with _opened(path) as (fh, p):
        obj = _unpickle(fh, p, _layout(fh, p), "meta", tuple(modules), dry=True, names=names)
    _check_embedded_yaml(obj, p)
    return names


def _check_embedded_yaml(obj, path) -> None:
    """A host may build a new model from a model's ``yaml`` dict (YOLOv5's ``train.py``:
    ``Model(ckpt['model'].yaml)``), whose strings its ``parse_model`` evals: check every such dict in the loaded
    object as a model yaml, with :func:`yolov5_shuffle.untrusted.model_yaml.check_model_dict`, where that
    module exists."""
    try:
        from .model_yaml import check_model_dict
    except ImportError:
        return
    for holder in _models_in(obj):
        cfg = vars(holder).get("yaml")
        if isinstance(cfg, dict):
            check_model_dict(cfg, f"weights {path}: the model yaml inside it")


def _models_in(obj, limit: int = 100_000):
    """The objects of a loaded checkpoint that may carry a ``yaml``: its values, and their sub-modules."""
    todo = list(obj.values()) if isinstance(obj, dict) else [obj]
    seen: set[int] = set()
    while todo and len(seen) < limit:
        o = todo.pop()
        if id(o) in seen or not isinstance(getattr(o, "__dict__", None), dict):
            continue
        seen.add(id(o))
        yield o
        children = vars(o).get("_modules")
        if isinstance(children, dict):
            todo.extend(children.values())


@contextlib.contextmanager
def _opened(f):
    """(binary file, name for messages) of a path or an open file; torch reads the very handle checked."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            yield fh, Path(f)
    else:
        yield f, getattr(f, "name", "<file object>")


# ------------------------------------------------------------------------------------------- 1. the zip
@dataclass
class _Layout:
    zip: zipfile.ZipFile
    folder: str  # the one folder every record sits in (torch's "archive name")
    sizes: dict[str, int]  # record name inside the folder -> bytes


def _not_checkpoint(path, why: str = "truncated, or another format") -> CheckpointRefused:
    return CheckpointRefused(f"weights {path}: not a PyTorch checkpoint (a zip archive holding data.pkl; {why})")


def _layout(f, path) -> _Layout:
    """The checkpoint's records, refusing before any record is read whatever a genuine torch zip never is."""
    try:
        head = f.read(len(_LEGACY))
        end = f.seek(0, os.SEEK_END)
        f.seek(0)
    except (OSError, ValueError) as e:
        raise _not_checkpoint(path, f"cannot read it: {e}") from None
    if head == _LEGACY:
        raise CheckpointRefused(f"weights {path}: legacy format (saved by torch < 1.6), not read here; re-save it "
                                "with torch >= 1.6 (torch.save(torch.load(f, weights_only=False), f), where you "
                                "trust the file)")
    if not head.startswith(_ZIP):
        raise _not_checkpoint(path)
    _check_directory_end(f, end, path)
    try:
        z = zipfile.ZipFile(f)
        infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
            UnicodeDecodeError) as e:
        raise _not_checkpoint(path, f"damaged: {e}") from None
    folder, sizes = _records(infos, end, path)
    return _Layout(z, folder, sizes)


def _check_directory_end(f, end: int, path) -> None:
    """The zip's end record must close the file (torch writes no comment, nothing after it) and bound its
    directory: at most MAX_RECORDS entries in at most MAX_DIRECTORY_BYTES, right before the end record, so that
    Python's zip reader and torch's find the same directory at the same offset."""
    if end < 22:
        raise _not_checkpoint(path)
    f.seek(end - 22)
    sig, _, _, _, entries, size, offset, comment = struct.unpack("<4s4H2LH", f.read(22))
    stop = end - 22
    if sig != b"PK\x05\x06" or comment:
        raise _not_checkpoint(path, "no end record at its end")
    f.seek(max(0, end - 42))
    locator = f.read(20)
    if locator[:4] == b"PK\x06\x07":  # zip64 (torch always writes it): the directory ends at the zip64 end record
        _, _, stop, _ = struct.unpack("<4sLQL", locator)
        f.seek(stop)
        rec = f.read(56)
        if len(rec) != 56 or rec[:4] != b"PK\x06\x06":
            raise _not_checkpoint(path, "damaged zip64 end record")
        entries, size, offset = struct.unpack("<QQQ", rec[32:56])
    elif entries == 0xFFFF or 0xFFFFFFFF in (size, offset):
        raise _not_checkpoint(path, "no zip64 end record where its end record says there is one")
    if entries > MAX_RECORDS or size > MAX_DIRECTORY_BYTES:
        raise CheckpointRefused(f"weights {path}: refused: it holds {entries} records in a {size}-byte directory "
                                f"(a genuine checkpoint holds a few thousand; at most {MAX_RECORDS} are read)")
    if offset + size != stop:
        raise _not_checkpoint(path, "its directory is not where its end record says")


def _records(infos, end: int, path) -> tuple[str, dict[str, int]]:
    """(folder, {record: size}) of a checkpoint zip's entries, refusing compressed, misplaced or ambiguous ones."""
    if not infos:
        raise _not_checkpoint(path, "an empty zip")
    folder = infos[0].filename.partition("/")[0]
    sizes: dict[str, int] = {}
    for i in infos:
        top, slash, rec = i.filename.partition("/")
        if not (slash and rec):
            raise _not_checkpoint(path, f"damaged: its record {i.filename} is not in a folder")
        if top != folder:
            raise _not_checkpoint(path, f"damaged: its record {i.filename} is outside the folder {folder}/ its "
                                        "first record is in")
        if i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size or i.flag_bits & 1:
            raise CheckpointRefused(f"weights {path}: refused: its record {i.filename} is compressed or encrypted "
                                    f"({i.compress_size} bytes stored for {i.file_size}); torch stores records "
                                    "uncompressed, and a compressed one can expand without bound")
        if i.header_offset + 30 + i.file_size > end:
            raise _not_checkpoint(path, f"damaged: its record {i.filename} runs past the end of the file")
        sizes[rec] = i.file_size
    pickles = [r for r in sizes if r.lower().rpartition("/")[2] == "data.pkl"]
    if len(pickles) > 1:
        raise CheckpointRefused(f"weights {path}: refused: it holds {len(pickles)} data.pkl pickles "
                                f"({', '.join(pickles[:3])}); a genuine checkpoint has one")
    twins = [r for r, n in Counter(i.filename.lower() for i in infos).items() if n > 1]
    if twins:
        raise CheckpointRefused(f"weights {path}: refused: it holds {twins[0]} twice (names compared regardless of "
                                "case, as torch's reader does); a genuine checkpoint holds each record once")
    if "data.pkl" not in sizes:
        raise _not_checkpoint(path, f"no {folder}/data.pkl in it")
    if "constants.pkl" in sizes:
        raise CheckpointRefused(f"weights {path}: a TorchScript archive (torch.jit.save), not a training checkpoint")
    if sizes["data.pkl"] > MAX_PICKLE_BYTES:
        raise CheckpointRefused(f"weights {path}: refused: its data.pkl is {sizes['data.pkl']} bytes (genuine "
                                f"checkpoints' are under 1 MiB; at most {MAX_PICKLE_BYTES >> 20} MiB is read)")
    return folder, sizes


def _same_records_for_torch(f, path, layout: _Layout) -> None:
    """torch's zip reader (which opens the file again) must see the records checked, of the same sizes, and
    data.pkl at the same offset: then the bounds above are the bounds of what torch reads."""
    import torch

    f.seek(0)
    try:
        reader = torch._C.PyTorchFileReader(f)
        same = sorted(reader.get_all_records()) == sorted(layout.sizes) and all(
            reader.get_record_size(r) == n for r, n in layout.sizes.items())
        info = layout.zip.getinfo(f"{layout.folder}/data.pkl")
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        same = same and reader.get_record_offset("data.pkl") == info.header_offset + 30 + name_len + extra_len
    except (RuntimeError, ValueError, OSError, struct.error) as e:
        raise _not_checkpoint(path, f"damaged: {_first_line(e)}") from None
    finally:
        f.seek(0)
    if not same:
        raise CheckpointRefused(f"weights {path}: refused: torch's zip reader sees other records in it than "
                                "Python's (a genuine checkpoint reads the same in both)")


# ---------------------------------------------------------------------------------------- 2. the pickle
_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                EOFError, AssertionError, OverflowError, UnicodeDecodeError, struct.error, OSError)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _forced_weights_only() -> bool:
    return os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in ("1", "y", "yes", "true")


def _unpickle(f, path, layout: _Layout, map_location, modules: tuple[str, ...], dry: bool,
              names: set[str] | None = None, **kwargs):
    """torch.load of the checked zip with :class:`_Unpickler` as its pickle module (``names``: filled with the
    globals it uses)."""
    import torch

    from .. import blocks  # noqa: F401  our layers, resolvable by the names checkpoints give them

    _same_records_for_torch(f, path, layout)
    if _forced_weights_only():  # torch then refuses any pickle_module: its own weights-only unpickler decides
        try:
            return torch.load(f, map_location=map_location, weights_only=True)
        except _LOAD_ERRORS as e:
            raise CheckpointRefused(f"weights {path}: TORCH_FORCE_WEIGHTS_ONLY_LOAD is set and torch's weights-only "
                                    f"loader refused it ({_first_line(e)}); unset it to load whole models") from None
    reader = type("Unpickler", (_Unpickler,), {"path": str(path), "modules": modules, "sizes": layout.sizes,
                                               "dry": dry, "names": set() if names is None else names})
    module = types.SimpleNamespace(__name__=__name__, Unpickler=reader)
    try:
        return torch.load(f, map_location=map_location, weights_only=False, pickle_module=module, **kwargs)
    except UserError:
        raise
    except _LOAD_ERRORS as e:
        raise CheckpointRefused(f"weights {path}: cannot be loaded, damaged ({type(e).__name__}: "
                                f"{_first_line(e)})") from None


_NOT_ALLOWED = ("which is not a layer of torch, of yolov5-shuffle or of a host's model code, nor a type genuine "
                "checkpoints hold")


class _Unknown:
    """What a global outside the allowlist resolves to: refused where it is used, or at the end of the pickle."""

    def __init__(self, name: str, why: str):
        self.name, self.why = name, why


class _StandIn:
    """A host class whose module is not imported in this process (:func:`check_calls` only): created and given
    its state like the real one, never called."""


@functools.lru_cache(maxsize=None)
def _stand_in(module: str, name: str) -> type:
    return type(name, (_StandIn,), {"__module__": module, "__qualname__": name})


def _name(obj) -> str:
    if isinstance(obj, _Unknown):
        return obj.name
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
        return f"{obj.__module__}.{obj.__qualname__}"
    kind = type(obj).__name__
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def _why(obj, default: str) -> str:
    """What is wrong with a global the pickle uses: an unknown one says why it is unknown."""
    return f"{obj.name}, {obj.why}" if isinstance(obj, _Unknown) else f"{_name(obj)}, {default}"


def _key_ok(k, depth: int = 0) -> bool:
    """Dict keys and set items genuine checkpoints hold; never objects with a hash of their own, nor big ints or
    floats, whose hashes a file can make collide (each insert then costs as much as the dict is long)."""
    if k is None or type(k) in (str, bytes, bool):
        return True
    if type(k) is int:
        return -(1 << 31) <= k < 1 << 31
    return type(k) is tuple and depth == 0 and len(k) <= 8 and all(_key_ok(x, 1) for x in k)


def _size(x) -> int:
    """What copying x costs, in steps: one per item, one per 64 bytes of a string."""
    if type(x) in (str, bytes, bytearray):
        return len(x) // 64
    return len(x) if type(x) in (list, tuple, dict, OrderedDict, set, frozenset) else 0


def _counted(op):
    def step(self):
        self._steps += 1
        if self._steps >= self._next_check:
            self._check_budget()
        op(self)

    step.__name__ = op.__name__
    return step


class _Unpickler(pickle._Unpickler):
    """The pure-Python unpickler with every opcode counted, globals from the allowlist alone, and the opcodes
    that call, create or fill objects checked first. torch subclasses it (its find_class maps storage types, then
    calls this one) and sets ``persistent_load`` (checked here against the zip's records)."""

    path, modules, sizes, dry, names = "", (), {}, False, set()  # set per load by _unpickle
    dispatch = {code: _counted(op) for code, op in pickle._Unpickler.dispatch.items()}

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self._steps, self._next_check, self._paused = 0, 1024, 0.0
        self._started = time.monotonic()
        self._unknown: list[_Unknown] = []
        self._torch_persistent_load = None
        self._calls = _calls()

    def load(self):
        result = super().load()
        if self._unknown:
            u = self._unknown[0]
            self._refuse(f"needs {u.name}, {u.why}")
        return result

    # --- bounds ---------------------------------------------------------------------------------------
    def _charge(self, n: int) -> None:
        self._steps += n
        if self._steps >= self._next_check:
            self._check_budget()

    def _check_budget(self) -> None:
        self._next_check = self._steps + 1024
        if self._steps > MAX_STEPS:
            raise CheckpointRefused(f"weights {self.path}: refused: its pickle takes more than {MAX_STEPS:,} steps "
                                    "to read (a genuine checkpoint's takes a few hundred thousand)")
        if time.monotonic() - self._started - self._paused > MAX_SECONDS:
            raise CheckpointRefused(f"weights {self.path}: refused: reading its pickle took more than "
                                    f"{MAX_SECONDS:.0f} s (a genuine checkpoint's takes about one)")

    def _refuse(self, what: str, how: str = _HOW) -> None:
        raise CheckpointRefused(f"weights {self.path}: refused: its pickle {what}; a genuine checkpoint never does "
                                f"(loading it could run code from the file); {how}")

    # --- globals --------------------------------------------------------------------------------------
    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:  # Python 2 names (protocol 2 writes __builtin__.set)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        self.names.add(full)
        fixed = _fixed_globals()
        if full in fixed:
            return fixed[full]
        mod = sys.modules.get(module)
        if mod is not None and "." not in name:
            obj = vars(mod).get(name)  # never getattr: a module's __getattr__ may import
            if self._creatable(obj):
                return obj
        if self.dry and mod is None and module.startswith(self.modules) and "." not in name:
            return _stand_in(module, name)
        why = (f"whose module {module} is not loaded (nothing a checkpoint names is imported)"
               if mod is None and module.startswith(self.modules) else _NOT_ALLOWED)
        unknown = _Unknown(full, why)
        self._unknown.append(unknown)
        return unknown

    def _creatable(self, cls) -> bool:
        """A class a checkpoint may create (NEWOBJ) and fill (BUILD): creating it runs no Python code."""
        import torch.nn as nn

        if not isinstance(cls, type) or not isinstance(cls.__new__, types.BuiltinFunctionType):
            return False
        if issubclass(cls, _StandIn):
            return self.dry
        where = cls.__module__ if isinstance(cls.__module__, str) else ""
        if issubclass(cls, nn.Module) and (where.startswith("torch.nn.") or where == "yolov5_shuffle.blocks"):
            return True
        return bool(self.modules) and where.startswith(self.modules)

    # --- opcodes that call, create or fill ----------------------------------------------------------------
    def _reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is tuple and not args and self._bare(func):  # a class created: no Python code, no data
            self.stack[-1] = func()
            return
        entry = self._calls.get(id(func))
        if entry is None or entry[0] is not func:
            self._refuse(f"calls {_name(func)}")
        if type(args) is not tuple:
            self._refuse(f"calls {_name(func)} with {_name(args)} for its arguments")
        self._charge(sum(map(_size, args)))
        entry[1](self, func, args)
        self.stack[-1] = func(*args)

    def _bare(self, cls) -> bool:
        """A creatable class whose call with no arguments runs no Python code (SimpleNamespace, say: pickled as a
        call); a stand-in's real class decides when it is loaded for real."""
        return self._creatable(cls) and (issubclass(cls, _StandIn) or (
            type(cls).__call__ is type.__call__ and type(cls.__init__) is types.WrapperDescriptorType))

    def _newobj(self):
        args = self.stack.pop()
        self._create(self.stack.pop(), args, {})

    def _newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self._create(self.stack.pop(), args, kwargs)

    def _create(self, cls, args, kwargs) -> None:
        if not self._creatable(cls):
            self._refuse(f"creates {_why(cls, _NOT_ALLOWED)}")
        if args or kwargs:
            self._refuse(f"creates {_name(cls)} with arguments")
        self.append(cls.__new__(cls))

    def _build(self):
        import numpy

        state, inst = self.stack[-1], self.stack[-2]
        if self._creatable(type(inst)):
            self._check_object_state(inst, state)
        elif type(inst) is numpy.ndarray:
            _check_array_state(self, state)
        elif isinstance(inst, numpy.dtype):
            if not (type(state) is tuple and len(state) in (8, 9) and state[2:5] == (None, None, None)):
                self._refuse("gives a numpy dtype a structured or unknown state")
        else:
            self._refuse(f"sets the state of {_name(inst)}")
        pickle._Unpickler.load_build(self)

    def _check_object_state(self, inst, state) -> None:
        parts = state if type(state) is tuple and len(state) == 2 else (state, None)
        for i, part in enumerate(parts):
            if part is None:
                continue
            if type(part) is not dict or not all(type(k) is str and not (i and k.startswith("__")) for k in part):
                self._refuse(f"gives {_name(type(inst))} a state that is not a dict of attribute names")
            self._charge(len(part))

    def _container(self, target, kinds: tuple[type, ...], verb: str) -> None:
        if target is not None and type(target) not in kinds:
            self._refuse(f"{verb} {_name(target)}")

    def _keys(self, keys) -> None:
        self._charge(len(keys))
        bad = next((k for k in keys if not _key_ok(k)), None)
        if bad is not None:
            self._refuse(f"uses {_name(bad)} as a dict key or set item")

    def _marked_target(self):
        return self.metastack[-1][-1] if self.metastack and self.metastack[-1] else None

    def _append(self):
        self._container(self.stack[-2], (list,), "appends to")
        pickle._Unpickler.load_append(self)

    def _appends(self):
        self._container(self._marked_target(), (list,), "appends to")
        self._charge(len(self.stack))
        pickle._Unpickler.load_appends(self)

    def _setitem(self):
        self._container(self.stack[-3], (dict, OrderedDict), "sets items of")
        self._keys(self.stack[-2:-1])
        pickle._Unpickler.load_setitem(self)

    def _setitems(self):
        self._container(self._marked_target(), (dict, OrderedDict), "sets items of")
        self._keys(self.stack[0::2])
        pickle._Unpickler.load_setitems(self)

    def _dict(self):
        self._keys(self.stack[0::2])
        pickle._Unpickler.load_dict(self)

    def _additems(self):
        self._container(self._marked_target(), (set,), "adds items to")
        self._keys(self.stack)
        pickle._Unpickler.load_additems(self)

    def _frozenset(self):
        self._keys(self.stack)
        pickle._Unpickler.load_frozenset(self)

    def _sequence(self, op):
        self._charge(len(self.stack))
        op(self)

    def _never(self):
        self._refuse("uses an opcode torch never writes (OBJ, INST, EXT or PERSID: calls or imports by name)")

    # --- tensor data ------------------------------------------------------------------------------------
    @property
    def persistent_load(self):
        return self._load_storage

    @persistent_load.setter
    def persistent_load(self, fn):  # torch sets its own; it is called after the checks below
        self._torch_persistent_load = fn

    def _load_storage(self, saved_id):
        import torch

        ok = type(saved_id) is tuple and len(saved_id) == 5 and saved_id[0] == "storage"
        stype, key, location, numel = saved_id[1:] if ok else (None,) * 4
        dtype = torch.uint8 if stype is torch.UntypedStorage else getattr(stype, "dtype", None)
        if not (ok and isinstance(dtype, torch.dtype)
                and (stype is torch.UntypedStorage or isinstance(stype, torch.serialization.StorageType))
                and type(key) is str and key.isdigit() and type(location) is str and len(location) <= 64
                and type(numel) is int and numel >= 0):
            self._refuse(f"asks for tensor data with {_name(saved_id)} instead of a storage reference")
        size = self.sizes.get(f"data/{key}")
        need = numel * torch._utils._element_size(dtype)
        if size != need:
            raise CheckpointRefused(f"weights {self.path}: cannot be loaded, damaged: a tensor needs {need} bytes of "
                                    f"record data/{key}, " + ("which it does not hold" if size is None else
                                                               f"which holds {size}"))
        started = time.monotonic()
        try:
            return self._torch_persistent_load(saved_id)
        finally:
            self._paused += time.monotonic() - started


for _op, _method in ((pickle.REDUCE, _Unpickler._reduce), (pickle.NEWOBJ, _Unpickler._newobj),
                     (pickle.NEWOBJ_EX, _Unpickler._newobj_ex), (pickle.BUILD, _Unpickler._build),
                     (pickle.APPEND, _Unpickler._append), (pickle.APPENDS, _Unpickler._appends),
                     (pickle.SETITEM, _Unpickler._setitem), (pickle.SETITEMS, _Unpickler._setitems),
                     (pickle.DICT, _Unpickler._dict), (pickle.ADDITEMS, _Unpickler._additems),
                     (pickle.FROZENSET, _Unpickler._frozenset),
                     (pickle.LIST, lambda self: self._sequence(pickle._Unpickler.load_list)),
                     (pickle.TUPLE, lambda self: self._sequence(pickle._Unpickler.load_tuple)),
                     *((op, _Unpickler._never) for op in (pickle.OBJ, pickle.INST, pickle.EXT1, pickle.EXT2,
                                                           pickle.EXT4, pickle.PERSID))):
    _Unpickler.dispatch[_op[0]] = _counted(_method)


# ------------------------------------------------------------------------------- what the pickle may use
@functools.lru_cache(maxsize=1)
def _fixed_globals() -> dict[str, object]:
    """Every global a genuine checkpoint names besides layer classes, by name, from modules imported here."""
    import _codecs

    import numpy
    import torch

    core = numpy._core.multiarray if hasattr(numpy, "_core") else numpy.core.multiarray
    names: dict[str, object] = {
        "collections.OrderedDict": OrderedDict, "builtins.set": set, "builtins.frozenset": frozenset,
        "_codecs.encode": _codecs.encode, "torch.Size": torch.Size, "torch.device": torch.device,
        "torch.Tensor": torch.Tensor, "torch._tensor.Tensor": torch.Tensor,
        "torch.nn.parameter.Parameter": torch.nn.Parameter, "torch.UntypedStorage": torch.UntypedStorage,
        "torch.storage.UntypedStorage": torch.UntypedStorage,
        "torch._tensor._rebuild_from_type_v2": torch._tensor._rebuild_from_type_v2,
        "numpy.dtype": numpy.dtype, "numpy.ndarray": numpy.ndarray,
    }
    for f in _tensor_rebuilders():
        names[f"torch._utils.{f.__name__}"] = f
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[f"{mod}._reconstruct"], names[f"{mod}.scalar"] = core._reconstruct, core.scalar
    names.update({str(t): t for t in vars(torch).values() if isinstance(t, torch.dtype)})  # torch.float32, ...
    return names


def _tensor_rebuilders() -> dict:
    """torch's rebuild functions of dense tensors and parameters, and the check of each one's arguments."""
    import torch

    u = torch._utils
    return {u._rebuild_tensor: _check_tensor, u._rebuild_tensor_v2: _check_tensor,
            u._rebuild_parameter: _check_parameter, u._rebuild_parameter_with_state: _check_parameter}


@functools.lru_cache(maxsize=1)
def _calls() -> dict[int, tuple]:
    """{id(callable): (callable, check(reader, func, args))}: everything a pickle may call, by identity."""
    import _codecs

    import numpy
    import torch

    fixed = _fixed_globals()
    checks = {**_tensor_rebuilders(), torch._tensor._rebuild_from_type_v2: _check_from_type,
              OrderedDict: _check_pairs, set: _check_items, frozenset: _check_items, _codecs.encode: _check_encode,
              torch.Size: _check_size, torch.device: _check_device, numpy.dtype: _check_dtype,
              fixed["numpy._core.multiarray.scalar"]: _check_scalar,
              fixed["numpy._core.multiarray._reconstruct"]: _check_reconstruct}
    return {id(f): (f, check) for f, check in checks.items()}


def _bad(r: _Unpickler, func, why: str) -> None:
    r._refuse(f"calls {_name(func)} {why}")


def _ints(x, limit: int = 64) -> bool:
    return type(x) in (tuple, list) and len(x) <= limit and all(type(i) is int and i >= 0 for i in x)


def _plain_state(state) -> bool:
    """The attributes _set_obj_state may set on a tensor: none, or public names."""
    parts = state if type(state) is tuple and len(state) == 2 else (state,)
    return all(p is None or (type(p) is dict and all(type(k) is str and not k.startswith("_") for k in p))
               for p in parts)


def _check_tensor(r, func, args) -> None:
    """(storage, offset, size, stride[, requires_grad, backward_hooks[, metadata]]): inside its storage."""
    import torch

    if len(args) not in ((6, 7) if func is torch._utils._rebuild_tensor_v2 else (4,)):
        return _bad(r, func, f"with {len(args)} arguments")
    storage, offset, size, stride, *rest = args
    if not (isinstance(storage, torch.storage.TypedStorage) and type(offset) is int and offset >= 0
            and _ints(size) and _ints(stride) and len(size) == len(stride)):
        return _bad(r, func, "with arguments that are not a storage, an offset, a size and a stride")
    need = 0 if 0 in size else offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if need > storage._size():  # elements (the public size() warns that TypedStorage is deprecated)
        raise CheckpointRefused(f"weights {r.path}: cannot be loaded, damaged: a tensor of size {tuple(size)} needs "
                                f"{need} elements of a storage that holds {storage._size()}")
    if rest and not (type(rest[0]) is bool and type(rest[1]) in (dict, OrderedDict) and not rest[1]
                     and (len(rest) == 2 or rest[2] is None
                          or (type(rest[2]) is dict and all(type(v) is bool for v in rest[2].values())))):
        _bad(r, func, "with backward hooks or other state")


def _check_parameter(r, func, args) -> None:
    """(data, requires_grad, backward_hooks[, state]): a tensor, no hooks, public attributes."""
    import torch

    n = 4 if func is torch._utils._rebuild_parameter_with_state else 3
    if not (len(args) == n and isinstance(args[0], torch.Tensor) and type(args[1]) is bool
            and type(args[2]) in (dict, OrderedDict) and not args[2] and (n == 3 or _plain_state(args[3]))):
        _bad(r, func, "with arguments other than a tensor, a flag and no hooks")


def _check_from_type(r, func, args) -> None:
    """(func, new_type, args, state): func(*args) is called, so func must be a tensor rebuild function (checked
    in turn) and new_type torch's Tensor or Parameter: never a class or function the file chose."""
    import torch

    rebuild, new_type, inner, state = args if len(args) == 4 else (None,) * 4
    check = next((c for f, c in _tensor_rebuilders().items() if f is rebuild), None)
    if check is None or type(inner) is not tuple:
        return _bad(r, func, f"to call {_name(rebuild)}")
    if not (new_type is torch.Tensor or new_type is torch.nn.Parameter) or not _plain_state(state):
        return _bad(r, func, f"to make {_name(new_type)}")
    check(r, rebuild, inner)


def _check_pairs(r, func, args) -> None:
    if args and not (len(args) == 1 and type(args[0]) in (list, tuple)
                     and all(type(p) is tuple and len(p) == 2 for p in args[0])):
        return _bad(r, func, "with something other than key-value pairs")
    r._keys([p[0] for p in args[0]] if args else [])


def _check_items(r, func, args) -> None:
    if args and not (len(args) == 1 and type(args[0]) in (list, tuple)):
        return _bad(r, func, "with something other than a list")
    r._keys(args[0] if args else [])


def _check_encode(r, func, args) -> None:
    if not (len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1")):
        _bad(r, func, "with other than a string to encode as latin1")


def _check_size(r, func, args) -> None:
    if not (len(args) == 1 and _ints(args[0])):
        _bad(r, func, "with other than a tuple of sizes")


def _check_device(r, func, args) -> None:
    if not (1 <= len(args) <= 2 and type(args[0]) is str and re.fullmatch(r"[a-z_0-9]{1,20}(:\d{1,3})?", args[0])
            and (len(args) == 1 or type(args[1]) is int)):
        _bad(r, func, "with other than a device name")


def _check_dtype(r, func, args) -> None:
    if not (len(args) == 3 and type(args[0]) is str and re.fullmatch(r"[a-zA-Z]{1,2}\d{0,6}", args[0])
            and type(args[1]) is bool and type(args[2]) is bool):
        _bad(r, func, "with other than a dtype code")


def _check_scalar(r, func, args) -> None:
    import numpy

    if not (1 <= len(args) <= 2 and isinstance(args[0], numpy.dtype) and not args[0].fields
            and (args[0].hasobject or (len(args) == 2 and type(args[1]) is bytes
                                       and len(args[1]) == args[0].itemsize))):
        _bad(r, func, "with other than a dtype and its bytes")


def _check_reconstruct(r, func, args) -> None:
    import numpy

    if not (len(args) == 3 and args[0] is numpy.ndarray and _ints(args[1], 8) and type(args[2]) is bytes
            and len(args[2]) <= 8):
        _bad(r, func, "with other than numpy.ndarray and an empty shape")


def _check_array_state(r: _Unpickler, state) -> None:
    """numpy's (version, shape, dtype, fortran, data): the data exactly as long as the shape says."""
    import numpy

    ok = type(state) is tuple and len(state) == 5 and _ints(state[1], 32) and isinstance(state[2], numpy.dtype)
    if ok:
        count = 1
        for n in state[1]:
            count *= n
        data = state[4]
        ok = (type(data) is list and len(data) == count) if state[2].hasobject else (
            type(data) in (bytes, bytearray) and len(data) == count * state[2].itemsize)
    if not ok:
        r._refuse("gives a numpy array a state whose data does not match its shape")
    r._charge(_size(state[4]))
