"""A model yaml read as data: literals and known names, never code a host's ``parse_model`` would run.

YOLOv5's and YOLOv7's ``parse_model`` ``eval`` each layer's module name, each string argument and the
top-level ``activation``; ultralytics' evals ``activation`` and looks module names up among its globals.
So a yaml from a stranger is code unless it is checked first. :func:`check_model_dict` accepts only:

* ``activation``: absent/empty, or ``nn.<Activation>(literal arguments)`` (``torch.nn.`` too), an
  activation class of torch.nn, the one shape ultralytics' restricted loading resolves without eval;
* a module name that is a layer: ``nn.<Module>``, ``torchvision.ops.<Module>``, or a plain name that the
  host defines as a layer (``layers``, when the caller knows the host); never a Python builtin, a private
  name, a whole model or a loader (:data:`NOT_LAYERS`, ``*Model``: they read or build another file);
* string arguments that are literals (``ast.literal_eval``: ``'None'``, ``'2'``, ``'[1, 2]'``), the names
  ``parse_model`` resolves itself (:data:`RESOLVED_NAMES`), plain words ``eval`` leaves as strings
  (``nearest``, ``resnet18``), or ``nn.<Activation>(literal arguments)``: no attribute access, calls,
  operators, lambdas, dunders;
* plain values only (mappings, lists, strings, numbers, booleans, None), at most :data:`MAX_NODES` of them,
  nested at most :data:`MAX_DEPTH` deep (a checkpoint's yaml dict is walked within the same bounds).

:func:`read_model_yaml` is the bounded reader (size, no aliases, values and depth). The host-specific
checks (our blocks' arguments, a patched tree) stay in :mod:`yolov5_shuffle.cfg_check`, which calls both.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import functools
import keyword
import reprlib
from collections.abc import Collection, Mapping
from pathlib import Path

from ..errors import UserError
from . import bounded

MAX_BYTES = 2 ** 20  # the largest config we know is about 10 KB
MAX_NODES = 100_000
MAX_DEPTH = 32
MAX_ARG_CHARS = 200
RESOLVED_NAMES = frozenset({"nc", "anchors", "kpt_shape"})  # what parse_model's eval/locals() resolve in real configs
NOT_LAYERS = frozenset({"DetectMultiBackend", "AutoShape", "AutoBackend", "Ensemble", "Detections"})
PREFIXES = {"nn.": "torch.nn", "torchvision.ops.": "torchvision.ops"}  # module names looked up in a package
_PLAIN = (str, int, float, bool, type(None))
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlist = _short.maxdict = 6


class ConfigError(UserError):
    """A model config that cannot be built as it is (named by file and layer)."""


def read_model_yaml(path: Path, what: str = "model config") -> object:
    """The values of a model yaml file, read within bounds (see :mod:`.bounded`); not yet checked."""
    return bounded.load_yaml(path, what, limit=MAX_BYTES, max_nodes=MAX_NODES, max_depth=MAX_DEPTH,
                             error=ConfigError)


def check_model_dict(d: object, source: str, layers: Collection[str] | None = None,
                     bound: Collection[str] = ()) -> None:
    """Refuse (ConfigError naming ``source`` and the layer or key) a model dict holding anything but literals and
    known names. ``layers``: the plain module names the host builds (None: any name that passes the rest);
    ``bound``: the names the host's ``eval`` resolves (its module's globals), never a plain word's."""
    _check_plain(d, source)
    if not isinstance(d, dict):
        raise ConfigError(f"not a YAML model config: {source} (expected a mapping with backbone and head, got "
                          f"{type(d).__name__})")
    missing = [k for k in ("backbone", "head") if not isinstance(d.get(k), list)]
    if missing:
        raise ConfigError(f"model config {source}: no {' / '.join(missing)} list of [from, number, module, args] rows")
    act = d.get("activation")
    if act and not (isinstance(act, str) and _is_activation_call(act)):
        raise ConfigError(f"model config {source}: activation {_short.repr(act)} is not nn.<Activation>(literal "
                          "arguments) (e.g. nn.SiLU(), nn.LeakyReLU(0.1)); a model yaml is data, not code")
    for i, row in enumerate(d["backbone"] + d["head"]):
        _check_row(row, f"{source}: layer {i}", layers, bound)


def layer_names(namespace: Mapping[str, object]) -> set[str]:
    """The names of the torch.nn.Module classes in a module's namespace: what its parse_model can build."""
    import torch.nn

    return {k for k, v in namespace.items() if isinstance(v, type) and issubclass(v, torch.nn.Module)}


def check_in_namespace(d: object, source: str, namespace: Mapping[str, object]) -> None:
    """:func:`check_model_dict` against the layers of the namespace a host's parse_model resolves names in (what a
    vendored ``Model.__init__`` and our ultralytics registration call before building)."""
    check_model_dict(d, source, layer_names(namespace), namespace.keys())


def _check_plain(d: object, source: str) -> None:
    """Plain values only, at most MAX_NODES of them (shared ones counted each time), MAX_DEPTH deep."""
    stack, seen = [(d, 1)], 1
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"model config {source}: nested more than {MAX_DEPTH} deep")
        if isinstance(v, (dict, list, tuple)):
            seen += len(v) * (2 if isinstance(v, dict) else 1)
            if seen > MAX_NODES:
                raise ConfigError(f"model config {source}: more than {MAX_NODES} values; a model config holds far "
                                  "fewer")
            items = [x for kv in v.items() for x in kv] if isinstance(v, dict) else v
            stack += [(x, depth + 1) for x in items]
        elif not isinstance(v, _PLAIN):
            raise ConfigError(f"model config {source}: a {type(v).__name__} value ({_short.repr(v)}); only plain "
                              "values (mappings, lists, strings, numbers, booleans, null) are accepted")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_row(row, where: str, layers, bound: Collection[str] = ()) -> None:
    if not isinstance(row, (list, tuple)) or len(row) != 4:
        raise ConfigError(f"{where}: expected a row [from, number, module, args], got {_short.repr(row)}")
    f, n, m, args = row
    if not isinstance(m, str) or not m:
        raise ConfigError(f"{where}: module must be a name, got {_short.repr(m)}")
    _check_module(m, where, layers)  # from here on, m is a plain (printable) name
    if not (_int(f) or isinstance(f, list) and f and all(_int(x) for x in f)):
        raise ConfigError(f"{where} {m}: from must be a layer index or a list of them, got {_short.repr(f)}")
    if not (_int(n) and n >= 1):
        raise ConfigError(f"{where} {m}: number (repeats) must be a whole number >= 1, got {_short.repr(n)}")
    if not isinstance(args, list):
        raise ConfigError(f"{where} {m}: args must be a list, got {_short.repr(args)}")
    for j, a in enumerate(args):
        if isinstance(a, str) and any(w in bound for w in a.split("-")) and a not in RESOLVED_NAMES:
            raise ConfigError(f"{where} {m}: argument {j} {_short.repr(a)} is a name the host's model code defines "
                              "(a function or module there), which its eval would hand to the layer; a model yaml is "
                              "data, not code")
        if isinstance(a, str) and not _is_data_string(a, bound):
            raise ConfigError(f"{where} {m}: argument {j} {_short.repr(a)} is not a literal, one of the names "
                              f"{', '.join(sorted(RESOLVED_NAMES))}, a plain word or nn.<Activation>(literal "
                              "arguments); a model yaml is data, not code")


def _check_module(m: str, where: str, layers) -> None:
    """A layer name: ``nn.X``/``torchvision.ops.X`` naming an nn.Module class there, or a plain name of a layer."""
    prefix = next((p for p in PREFIXES if m.startswith(p)), None)
    if prefix is not None:
        name, known = m[len(prefix):], _package_modules(PREFIXES[prefix])
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
            raise ConfigError(f"{where}: unknown module '{m}' (not in {PREFIXES[prefix]})"
                              + (f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""))
        return
    if not _is_plain_name(m):
        raise ConfigError(f"{where}: module {_short.repr(m)} is not a layer name (a plain name, nn.<Module> or "
                          "torchvision.ops.<Module>); a model yaml is data, not code")
    if m in NOT_LAYERS or m.endswith("Model"):
        raise ConfigError(f"{where}: '{m}' is a whole model or a loader, not a layer (it would read or build "
                          "another file)")
    if hasattr(builtins, m):
        raise ConfigError(f"{where}: '{m}' is a Python builtin, not a layer")
    if layers is not None and m not in layers:
        known = sorted(k for k in layers if _is_plain_name(k) and k not in NOT_LAYERS and not k.endswith("Model"))
        close = difflib.get_close_matches(m, known, n=3, cutoff=0.6)
        if not close:
            low = {k.lower(): k for k in known}
            close = [low[c] for c in difflib.get_close_matches(m.lower(), sorted(low), n=3, cutoff=0.6)]
        raise ConfigError(f"{where}: unknown module '{m}'"
                          + (f"; closest known: {', '.join(close)}" if close else "; not a layer this host defines"))


@functools.lru_cache(maxsize=None)
def _package_modules(package: str) -> set[str]:
    """The nn.Module classes a package exposes (torch.nn, torchvision.ops), imported only when a yaml names one."""
    import importlib

    import torch.nn

    mod = importlib.import_module(package)
    return {k for k in dir(mod) if not k.startswith("_") and isinstance(getattr(mod, k, None), type)
            and issubclass(getattr(mod, k), torch.nn.Module)}


@functools.lru_cache(maxsize=None)
def _activation_classes() -> set[str]:
    import torch.nn
    import torch.nn.modules.activation as act

    return {k for k, v in vars(act).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)
            and v.__module__ == act.__name__ and k != "MultiheadAttention"} | {"Identity"}


def _is_plain_name(s: str) -> bool:
    """An identifier that is not a keyword, private or dunder."""
    return s.isidentifier() and not keyword.iskeyword(s) and not s.startswith("_")


def _is_literal(s: str) -> bool:
    try:
        ast.literal_eval(s)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _is_data_string(s: str, bound: Collection[str] = ()) -> bool:
    """What eval turns into data: a literal, a resolved name, a plain word (hyphens allowed: 'nearest-exact') that
    is not a name in ``bound`` (eval would hand over the host's function or module: ``select_device``), an
    activation call with literal arguments."""
    if len(s) > MAX_ARG_CHARS:
        return False
    if _is_literal(s) or s in RESOLVED_NAMES:
        return True
    words = s.split("-")
    if all(_is_plain_name(w) and not hasattr(builtins, w) and w not in bound for w in words) and (
            len(words) == 1 or not any(w in RESOLVED_NAMES for w in words)):
        return True
    return _is_activation_call(s)


def _is_activation_call(s: str) -> bool:
    """``nn.X(...)`` or ``torch.nn.X(...)``, X an activation class of torch.nn, every argument a literal."""
    if len(s) > MAX_ARG_CHARS:
        return False
    try:
        call = ast.parse(s.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    if not isinstance(call, ast.Call):
        return False
    path, node = [], call.func
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return False
    path.append(node.id)
    if path[1:] not in (["nn"], ["nn", "torch"]) or path[0] not in _activation_classes():
        return False
    values = [*call.args, *(k.value for k in call.keywords)]
    if any(k.arg is None for k in call.keywords):
        return False
    try:
        for v in values:
            ast.literal_eval(v)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
