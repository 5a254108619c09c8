"""Check a YOLOv5/YOLOv7 model yaml before a host builds it, naming the layer of every problem.

A host meets a bad row deep inside ``parse_model`` (a NameError for a typo'd module, an IndexError or
TypeError for a wrong argument count) with no layer index. This reads the yaml the way ``parse_model``
does and refuses, as :class:`ConfigError` (a :class:`~yolov5_shuffle.errors.UserError`):

* a file that is not a YAML mapping with ``backbone`` and ``head`` lists of ``[from, number, module, args]``;
* ``nc`` < 1, a non-positive ``width_multiple``/``depth_multiple``, a repeat count < 1;
* a module name the host does not know (with the layer index and the closest known names);
* one of our blocks in a host tree that is not patched (with the ``yolov5-shuffle patch`` to run);
* our blocks' argument counts and values (layer index, argument, expected yaml signature), through
  :func:`yolov5_shuffle.blocks.check_yaml_args`, the same check the patched ``parse_model`` runs.

Nothing of the host is imported or run: its module names are read from its sources.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from pathlib import Path

import yaml

from .errors import UserError
from .marker import is_patched  # noqa: F401  (the one definition; callers of cfg_check.is_patched keep working)

HOST_SOURCES = ("models/common.py", "models/yolo.py", "models/experimental.py")


class ConfigError(UserError):
    pass


def load_yaml_file(path: Path, what: str) -> object:
    """yaml.safe_load of a file, refusing binary or malformed content in one line naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a folder, not a file") from None
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except OSError as e:  # no permission, a broken mount: the user's file, not a bug
        raise ConfigError(f"{what} {path}: cannot read it ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise UnicodeDecodeError("utf-8", raw, text.index("\x00"), text.index("\x00") + 1, "NUL byte")
    except UnicodeDecodeError as e:
        raise ConfigError(f"not a YAML {what}: {path} (binary content: byte 0x{raw[e.start]:02x} at offset "
                          f"{e.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"not a YAML {what}: {path}: not valid YAML ({where}{problem})") from None


def host_module_names(root: Path) -> set[str]:
    """The names a host's ``parse_model`` can eval: top-level classes, functions and imported names of its
    models/common.py, models/yolo.py and models/experimental.py (read, not imported)."""
    names: set[str] = set()
    for rel in HOST_SOURCES:
        f = Path(root) / rel
        if not f.is_file():
            continue
        try:
            tree = ast.parse(f.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.ImportFrom):
                names.update(a.asname or a.name for a in node.names if a.name != "*")
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def importable_host_root() -> Path | None:
    """The root (folder of models/yolo.py) of the YOLOv5 this environment would import, found without
    importing it: the ``yolov5`` package (PyPI layout or the vendored tree), else a ``models`` package
    on the import path (a checkout); None when there is none."""
    for pkg, up in (("yolov5", 0), ("models", 1)):
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            root = Path(loc) if up == 0 else Path(loc).parent
            if (root / "models" / "yolo.py").is_file():
                return root
    return None


def require_patched_host() -> Path:
    """The importable YOLOv5's root, or a UserError saying which ``yolov5-shuffle`` command makes one."""
    root = importable_host_root()
    if root is None:
        raise ConfigError("no YOLOv5 in this environment to build the model: run `yolov5-shuffle vendor` (makes "
                          "and patches one), or `yolov5-shuffle patch PATH` on your checkout and put it on PYTHONPATH")
    if not is_patched(root):
        raise ConfigError(f"{root}: this YOLOv5 is not patched, so it cannot build our blocks; run "
                          f"`yolov5-shuffle patch {root}`")
    return root


def _literal(a):
    """YOLOv5 evals string arguments ('None', '2'); do the same for literals, leave names alone."""
    if isinstance(a, str):
        try:
            return ast.literal_eval(a)
        except (ValueError, SyntaxError):
            return a
    return a


def _torch_nn_names() -> set[str]:
    import torch.nn

    return set(dir(torch.nn))


def check_model_yaml(cfg: Path, root: Path | None = None) -> dict:
    """Check the model yaml ``cfg`` for the host tree at ``root`` (None: module names other than ours and
    ``nn.*`` are not checked). Returns the parsed yaml; raises ConfigError naming file and layer."""
    from . import blocks

    cfg = Path(cfg)
    d = load_yaml_file(cfg, "model config")
    if not isinstance(d, dict):
        raise ConfigError(f"not a YAML model config: {cfg} (expected a mapping with backbone and head, got "
                          f"{type(d).__name__})")
    missing = [k for k in ("backbone", "head") if not isinstance(d.get(k), list)]
    if missing:
        raise ConfigError(f"model config {cfg}: no {' / '.join(missing)} list of [from, number, module, args] rows")
    nc = d.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise ConfigError(f"model config {cfg}: nc must be a whole number >= 1, got {nc!r}")
    gd, gw = d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0)
    for key, v in (("depth_multiple", gd), ("width_multiple", gw)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"model config {cfg}: {key} must be a number > 0, got {v!r}")
    ours = {m.__name__: m for m in blocks.BLOCKS}
    known = host_module_names(root) | set(ours) if root is not None else None
    patched = is_patched(root) if root is not None else True
    nn_names = None
    for i, row in enumerate(d["backbone"] + d["head"]):
        where = f"{cfg}: layer {i}"
        if not isinstance(row, list) or len(row) != 4:
            raise ConfigError(f"{where}: expected a row [from, number, module, args], got {row!r}")
        f, n, m, args = row
        if not isinstance(m, str) or not m:
            raise ConfigError(f"{where}: module must be a name, got {m!r}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"{where} {m}: number (repeats) must be a whole number >= 1, got {n!r}")
        if not isinstance(args, list):
            raise ConfigError(f"{where} {m}: args must be a list, got {args!r}")
        if m.startswith("nn."):
            nn_names = _torch_nn_names() if nn_names is None else nn_names
            if m[3:] not in nn_names:
                close = difflib.get_close_matches(m[3:], sorted(nn_names), n=3, cutoff=0.6)
                raise ConfigError(f"{where}: unknown module '{m}' (not in torch.nn)"
                                  + (f"; did you mean {', '.join('nn.' + c for c in close)}?" if close else ""))
            continue
        if m in ours:
            if not patched:
                raise ConfigError(f"{where} {m}: {root} is not patched, so its parse_model cannot build our blocks; "
                                  f"run `yolov5-shuffle patch {root}`")
            n_after = max(round(n * gd), 1) if n > 1 else n
            try:
                blocks.check_yaml_args(ours[m], [_literal(a) for a in args], i, None, n_after, gw)
            except ValueError as e:
                raise ConfigError(f"{cfg}: {e}") from None
            continue
        if known is not None and m not in known:
            close = difflib.get_close_matches(m, sorted(known), n=3, cutoff=0.6)
            if not close:
                low = {k.lower(): k for k in known}
                close = [low[c] for c in difflib.get_close_matches(m.lower(), sorted(low), n=3, cutoff=0.6)]
            raise ConfigError(f"{where}: unknown module '{m}'"
                              + (f"; closest known: {', '.join(close)}" if close else f"; not defined in {root}"))
    return d
