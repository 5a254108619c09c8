"""The unpickler torch drives when it loads a checkpoint from a stranger (:mod:`.checkpoint` hands it to
``torch.load(pickle_module=...)``), so the pickle checked is the pickle loaded: what a checkpoint's pickle may
name, call, create and fill, and what reading it may cost.

* Globals resolve only from an explicit allowlist of objects already imported: torch's tensor-rebuild
  functions and a few builtin, torch and numpy constructors (by name, from modules imported here), and
  classes found in ``sys.modules`` (never imported, never through a module's ``__getattr__``).
* Classes may be *created* (NEWOBJ, as pickled ``nn.Module``s are) and given a state of attributes, never
  *called* (unless the call runs no Python code and takes nothing from the file); creatable are the layers of
  ``torch.nn`` and :mod:`yolov5_shuffle.blocks`, and the layers and namespaces of the host model modules
  named by the caller (``modules``), none with a finalizer.
* The only calls are to the functions of :func:`_calls`, each with its arguments checked: a tensor inside its
  storage, a storage the size of its record, no function or class smuggled into ``_rebuild_from_type_v2``,
  no hooks, dict keys whose hashes a file cannot make collide.
* Every opcode, and every item a call or opcode copies, counts against :data:`MAX_STEPS`, and the processor
  time against :data:`MAX_SECONDS`.
"""

from __future__ import annotations

import _compat_pickle
import functools
import pickle
import re
import sys
import time
import types
from collections import OrderedDict

from ..errors import UserError

TRUST_ENV = "YOLOV5_SHUFFLE_TRUST_CHECKPOINTS"
MAX_STEPS = 2_000_000  # opcodes plus items they copy; genuine: under 500 k (yolov7-e6e, model + EMA + optimizer)
MAX_SECONDS = 10.0  # processor time reading the pickle, not counting the tensor data (nor other processes)
HOW_TO_TRUST = f"if you trust this file, set {TRUST_ENV}=1 to load it with plain unpickling (it can then run code)"


class CheckpointRefused(UserError):
    """The file needs something a genuine checkpoint does not hold (or is not a checkpoint at all)."""


def pickle_module(path, modules: tuple[str, ...], sizes: dict[str, int], dry: bool, names: set[str]):
    """What ``torch.load(pickle_module=...)`` takes: an ``Unpickler`` for one file (``sizes``: its records' sizes;
    ``dry``: classes of ``modules`` not imported stand in for themselves; ``names``: filled with the globals used)."""
    reader = type("Unpickler", (_Unpickler,), {"path": str(path), "modules": modules, "sizes": sizes, "dry": dry,
                                               "names": names})
    return types.SimpleNamespace(__name__=__name__, Unpickler=reader)


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


def _creatable(cls: type, modules: tuple[str, ...], dry: bool) -> bool:
    import torch.nn as nn

    if not isinstance(cls.__new__, types.BuiltinFunctionType) or getattr(cls, "__del__", None) is not None:
        return False
    if issubclass(cls, _StandIn):
        return dry
    where = cls.__module__ if isinstance(cls.__module__, str) else ""
    if issubclass(cls, nn.Module) and (where.startswith("torch.nn.") or where == "yolov5_shuffle.blocks"):
        return True
    return bool(modules) and where.startswith(modules) and issubclass(cls, (nn.Module, types.SimpleNamespace))


def _is_module(m) -> bool:
    import torch.nn as nn

    return m is None or isinstance(m, (nn.Module, _StandIn))


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
        self._started = time.thread_time()
        self._unknown: list[_Unknown] = []
        self._classes: dict[type, bool] = {}
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
        if time.thread_time() - self._started - self._paused > MAX_SECONDS:
            raise CheckpointRefused(f"weights {self.path}: refused: reading its pickle took more than "
                                    f"{MAX_SECONDS:.0f} s (a genuine checkpoint's takes about one)")

    def _refuse(self, what: str, how: str = HOW_TO_TRUST) -> None:
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
        """A class a checkpoint may create (NEWOBJ) and fill (BUILD): a layer of torch.nn or ours, or a layer or
        namespace of the host's model code; creating it runs no Python code, nor does dropping it (no __del__)."""
        if not isinstance(cls, type):
            return False
        if cls not in self._classes:
            self._classes[cls] = _creatable(cls, self.modules, self.dry)
        return self._classes[cls]

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
            _check_dtype_state(self, inst, state)
        else:
            self._refuse(f"sets the state of {_name(inst)}")
        pickle._Unpickler.load_build(self)

    def _check_object_state(self, inst, state) -> None:
        """Attributes by name; no class or function among them (host code would call it: a layer's ``act``, a
        Sequential's items), no hooks (torch calls them), sub-modules that are modules."""
        parts = state if type(state) is tuple and len(state) == 2 else (state, None)
        for i, part in enumerate(parts):
            if part is None:
                continue
            if type(part) is not dict or not all(type(k) is str and not (i and k.startswith("__")) for k in part):
                self._refuse(f"gives {_name(type(inst))} a state that is not a dict of attribute names")
            self._charge(len(part))
            for k, v in part.items():
                if isinstance(v, (type, types.FunctionType, types.BuiltinFunctionType, _Unknown)):
                    self._refuse(f"gives {_name(type(inst))} the attribute {k} = {_name(v)}, a class or function")
                if "hook" in k and isinstance(v, dict) and v:
                    self._refuse(f"gives {_name(type(inst))} {k}, which torch would call")
                if k == "_modules" and isinstance(v, dict) and not all(map(_is_module, v.values())):
                    self._refuse(f"gives {_name(type(inst))} a sub-module that is not a layer")

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
        started = time.thread_time()
        try:
            return self._torch_persistent_load(saved_id)
        finally:
            self._paused += time.thread_time() - started


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

    checks = {"_rebuild_tensor": _check_tensor, "_rebuild_tensor_v2": _check_tensor,
              "_rebuild_parameter": _check_parameter, "_rebuild_parameter_with_state": _check_parameter}
    return {getattr(torch._utils, f): c for f, c in checks.items() if hasattr(torch._utils, f)}  # older torch: fewer


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
    return type(x) in (tuple, list) and len(x) <= limit and all(type(i) is int and 0 <= i < 1 << 63 for i in x)


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

    if not (len(args) == 3 and args[0] is numpy.ndarray and type(args[1]) is tuple and args[1] == (0,)
            and type(args[2]) is bytes and len(args[2]) <= 8):  # any other shape is allocated right here
        _bad(r, func, "with other than numpy.ndarray and an empty shape")


def _check_dtype_state(r: _Unpickler, dtype, state) -> None:
    """A dtype's (version, byteorder, subarray, names, fields, itemsize, alignment, flags): the state the fresh dtype
    of that code already has, but for its byte order. numpy takes any itemsize and flags it is given: an object
    dtype without its object flag makes an array of pointers from the file's bytes (read: a crash, or worse)."""
    own = dtype.__reduce__()[2]
    if not (type(state) is tuple and len(state) == len(own) == 8 and state[0] == own[0] and state[2:] == own[2:]
            and state[1] in ("<", ">", "|", "=")):
        r._refuse("gives a numpy dtype a state other than its own (fields, itemsize or flags)")


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
