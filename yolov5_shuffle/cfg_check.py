"""Check a YOLOv5/YOLOv7 model yaml before a host builds it, naming the layer of every problem.

A host meets a bad row deep inside ``parse_model`` (a NameError for a typo'd module, an IndexError or
TypeError for a wrong argument count) with no layer index. This reads the yaml within bounds and checks
it as data first (:mod:`yolov5_shuffle.untrusted.model_yaml`: rows of ``[from, number, module, args]``, literals
and known names only, no activation or argument that ``parse_model``'s eval would run, a module name the host
defines, with the layer index and the closest known names), then refuses, as :class:`ConfigError` (a
:class:`~yolov5_shuffle.errors.UserError`):

* ``nc`` < 1, a non-positive ``width_multiple``/``depth_multiple``;
* one of our blocks in a host tree that is not patched (with the ``yolov5-shuffle patch`` to run);
* our blocks' argument counts and values (layer index, argument, expected yaml signature), through
  :func:`yolov5_shuffle.blocks.check_yaml_args`, the same check the patched ``parse_model`` runs.

Nothing of the host is imported or run: its module names are read from its sources.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import yaml

from .marker import is_patched  # noqa: F401  (the one definition; callers of cfg_check.is_patched keep working)
from .untrusted import bounded
from .untrusted.model_yaml import ConfigError, check_model_dict, read_model_yaml

HOST_SOURCES = ("models/common.py", "models/yolo.py", "models/experimental.py")
DATA_YAML_BYTES = 16 * 2 ** 20  # a data yaml lists class names (and may carry a download script): never this big


def load_yaml_file(path: Path, what: str) -> object:
    """yaml.safe_load of a bounded file (a folder, FIFO or device refused by what it is), refusing binary or
    malformed content in one line naming the file."""
    text = bounded.read_text(path, what, DATA_YAML_BYTES, ConfigError)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not a YAML {what}: {path}: not valid YAML ({bounded.yaml_problem(e)})") from None


def host_layer_names(root: Path) -> set[str]:
    """The layers a host's ``parse_model`` can build by name: the classes its models/common.py, models/yolo.py and
    models/experimental.py define, and the names yolo.py imports from its own ``models`` package (read, not
    imported). Functions and other imports are not layers (``check_requirements`` would install a package)."""
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
            if isinstance(node, ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-2:-1] == ["models"]:
                names.update(a.name for a in node.names if a.name != "*")
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


def check_model_yaml(cfg: Path, root: Path | None = None) -> dict:
    """Check the model yaml ``cfg`` for the host tree at ``root`` (None: plain module names other than ours are not
    checked against a host). Returns the parsed yaml; raises ConfigError naming file and layer."""
    from . import blocks

    cfg = Path(cfg)
    d = read_model_yaml(cfg)
    ours = {m.__name__: m for m in blocks.BLOCKS}
    check_model_dict(d, str(cfg), layers=host_layer_names(root) | set(ours) if root is not None else None)
    nc = d.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise ConfigError(f"model config {cfg}: nc must be a whole number >= 1, got {nc!r}")
    gd, gw = d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0)
    for key, v in (("depth_multiple", gd), ("width_multiple", gw)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"model config {cfg}: {key} must be a number > 0, got {v!r}")
    patched = is_patched(root) if root is not None else True
    for i, (_, n, m, args) in enumerate(d["backbone"] + d["head"]):
        if m not in ours:
            continue
        if not patched:
            raise ConfigError(f"{cfg}: layer {i} {m}: {root} is not patched, so its parse_model cannot build our "
                              f"blocks; run `yolov5-shuffle patch {root}`")
        n_after = max(round(n * gd), 1) if n > 1 else n
        try:
            blocks.check_yaml_args(ours[m], [_literal(a) for a in args], i, None, n_after, gw)
        except ValueError as e:
            raise ConfigError(f"{cfg}: {e}") from None
    return d
