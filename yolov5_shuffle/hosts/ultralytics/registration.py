"""Our blocks inside the ``ultralytics`` package (YOLOv8, YOLO11, RT-DETR), registered at run time.

:func:`register` (idempotent; what ``import yolov5_shuffle.ultralytics`` calls) is all it takes; then
``YOLO("yolo11n-shufflenetv2.yaml")``, ``RTDETR("rtdetr-shufflenetv2.yaml")``, training, validation,
prediction, ``fuse()`` and ONNX export work as for the host's own models. Importing this module changes
nothing by itself (:func:`autoregister` is for ``yolov5_shuffle/__init__.py``); the ``yolo`` command
route is :mod:`.yolo_route`.

Why the parse_model is rebuilt from its own source
--------------------------------------------------
ultralytics' ``parse_model`` (``ultralytics/nn/tasks.py``) resolves a yaml module name through the
globals of ``tasks``, and which modules get ``c1 = ch[f]`` prepended, ``args[0]`` width-scaled and
their output width recorded in ``ch`` is decided by sets built *inside* the function (the
frozenset ``base_modules`` in 8.3.100 and later, a literal set in 8.1-8.3.40, a tuple in 8.0).
A class outside them gets its raw yaml arguments and ``ch`` records its *input* width as its
output, so the next layer is built with the wrong channel count. Nothing outside the function
can change that, so :func:`register` rebuilds it: it parses
``inspect.getsource(tasks.parse_model)`` with :mod:`ast`, finds the layer loop
(``for i, (f, n, m, args) in enumerate(...)``) and its first ``if m in <modules>:`` branch, and
puts one branch of ours in front of it::

    if m in _YOLOV5_SHUFFLE_BLOCKS:
        c2, args = _yolov5_shuffle_layer(m, ch[f], args, n, width, max_channels, i)
    elif m in base_modules:  # ... ultralytics' own code, untouched
        ...

The rebuilt function is compiled with ``tasks``' own globals and replaces ``tasks.parse_model``
(and the ``ultralytics.nn.parse_model`` alias). Everything else in it stays exactly as that
ultralytics release wrote it. Anchoring on the syntax tree rather than on source text survives
reformatting and the set/tuple/frozenset spellings across releases; when the loop or the branch
is missing (a release that restructured parse_model) :func:`register` raises one line naming the
ultralytics version and changes nothing. Alternatives rejected: a fork or a patch file (the
issue asks for no fork), wrapping parse_model from outside (the channel bookkeeping is inside
it), and aliasing our classes to ultralytics names (pickles and ``base_modules`` go by identity).

Our branch applies ultralytics' width rule (``min(c2, max_channels) * width``) but rounds up to
an even count (:func:`yolov5_shuffle.blocks.scale_width`) instead of to a multiple of 8: the
ShuffleNetV2 split needs an even count, and multiples of 8 would turn shufflenet_v2_x1_0's 116
channels into 120 at every scale. So at any scale whose width is 1.0 and max_channels >= 464
our backbone widths are torchvision's exactly (24/116/232/464; MobileNetV2 32..320); with depth
1.0 too the unit repeats are 4/8/4 as well and ImageNet weights load: scale ``l`` of the
yolov8/yolo11 configs, and the one scale ``l`` of ``rtdetr-shufflenetv2.yaml``. Repeats scale by
ultralytics' depth rule (``max(round(n * depth), 1)``), so at n/s/m the stages have fewer units.
A row with ``n > 1`` builds n identical units, so it must keep the width (``c1 == c2``): write a
stage's first, downsampling unit on its own row, as our configs do.

Other hooks, all idempotent and undone by nothing (they live for the process):

* The rebuilt ``parse_model`` first checks its yaml dict as data
  (:func:`yolov5_shuffle.untrusted.model_yaml.check_in_namespace`): ultralytics evals ``activation``,
  so a config or checkpoint naming anything but ``nn.<Activation>(literal arguments)``, or a module
  name that is not a layer of ``tasks``, is refused (ConfigError naming the file and the layer) before
  it is built.
* ``BaseModel.fuse`` also folds our BatchNorms (``fuse_blocks``) and ``BaseModel.is_fused``
  reports unfolded ones, so ``model.fuse()``, ``predict`` (AutoBackend fuses) and ``export``
  run on folded convs. Under QAT our convs are left as trained.
* ``tasks.check_yaml`` (the name ``yaml_model_load`` calls) resolves our config names: a bare name
  that does not exist locally and names one of our files, or our file with another scale letter
  (``yolo11s-shufflenetv2.yaml`` -> ``yolo11n-shufflenetv2.yaml``, scale ``s`` read from the name by
  ultralytics' own regex), becomes the full path in our config folder (:mod:`.config_lookup`). Full
  paths always work.
* ``torch.serialization.add_safe_globals`` gets every nn.Module class of ``yolov5_shuffle.blocks``,
  so ``ULTRALYTICS_SAFE_LOAD=1`` (``weights_only`` loading) accepts our checkpoints once registered.

Checkpoints and a missing plugin
--------------------------------
Checkpoints pickle our layers as ``yolov5_shuffle.blocks.*``. In the ``yolo`` route (``yolov5-shuffle yolo``,
``python -m yolov5_shuffle.ultralytics``) every checkpoint goes through our safe loader instead of
ultralytics' (:mod:`.safe_load`). Elsewhere ultralytics loads them itself (all checked with 8.4.190):

* plugin importable and registered: loads, fuses (our BN folded), trains on, exports; with
  ``ULTRALYTICS_SAFE_LOAD=1`` too.
* plugin importable, not registered (plain ``yolo predict model=best.pt``): the unpickler imports
  ``yolov5_shuffle.blocks`` by itself, so predict/val/export work; only our BatchNorms stay unfolded
  (same outputs, a little slower). Anything that rebuilds the model from its yaml (``train`` from
  ``best.pt``, ``resume``) stops at ultralytics' ``KeyError: 'conv_bn_relu_maxpool'``, and with
  ``ULTRALYTICS_SAFE_LOAD=1`` ultralytics refuses the file ("references types outside the supported
  Ultralytics checkpoint format"). None of our code runs in this case, so no message of ours can come
  first. :func:`autoregister` closes the gap when ``yolov5_shuffle/__init__.py`` calls it while
  ``ultralytics.nn.tasks`` is loaded, which is exactly the situation of unpickling a checkpoint: the
  unpickler imports the package before ``blocks``, so the model is registered before ultralytics fuses
  or rebuilds it (checked: fused predict and ``train`` from ``best.pt`` then work). Not for
  ``ULTRALYTICS_SAFE_LOAD=1``: a ``weights_only`` load imports nothing.
* plugin not importable: ``torch_safe_load`` catches ``ModuleNotFoundError`` (``e.name ==
  'yolov5_shuffle'``), warns "best.pt appears to require 'yolov5_shuffle', which is not in
  Ultralytics requirements. AutoInstall will run now for 'yolov5_shuffle'" and calls
  ``check_requirements('yolov5_shuffle')``. That installs nothing when a ``yolov5-shuffle``
  distribution is recorded as installed (a broken install); otherwise, with ``YOLO_AUTOINSTALL`` on and
  the machine online, it runs ``pip install yolov5_shuffle``, which pip normalises to
  ``yolov5-shuffle``: whatever PyPI serves under that name. Offline or with ``YOLO_AUTOINSTALL=False``
  it only warns. Then it loads again and raises ``ModuleNotFoundError: No module named
  'yolov5_shuffle'``. A pickle cannot run code of a package that is absent, so the fix is the one that
  message implies: ``pip install yolov5-shuffle``. With ``ULTRALYTICS_SAFE_LOAD=1`` nothing is
  imported or installed and the file is refused with the TypeError above.

Known limits: multi-GPU (DDP) training starts a fresh interpreter from a file ultralytics
generates, in which our plugin is not imported (unless the ``__init__`` hook above is in place
*and* something imports ``yolov5_shuffle`` there): train on one device, or import the plugin in a
``sitecustomize``. Registration patches the ``ultralytics`` modules of this process only.
"""

from __future__ import annotations

import __future__
import ast
import functools
import inspect
import os
import sys
import textwrap
import threading
import warnings

import torch.nn as nn

from ... import blocks
from ...blocks import fuse_blocks, scale_width
from ...errors import UserError
from .config_lookup import resolve_config

__all__ = ("register", "autoregister", "is_registered", "BLOCKS", "RegistrationError")

BLOCKS = blocks.BLOCKS
_SET_NAME = "_YOLOV5_SHUFFLE_BLOCKS"  # names we add to ultralytics.nn.tasks' globals
_HELPER_NAME = "_yolov5_shuffle_layer"
_CHECK_NAME = "_yolov5_shuffle_check_model_dict"
_MARK = "__yolov5_shuffle__"  # attribute on every function we install: the one it replaces
_LOCK = threading.RLock()


class RegistrationError(UserError):
    """This ultralytics cannot take our blocks (its parse_model changed shape, or it is not installed)."""


# ------------------------------------------------------------------------------------------------ parse_model branch
def _yolov5_shuffle_layer(m, c1, args, n, width, max_channels, i):
    """Our rows in parse_model: ``[c2, *rest]`` -> ``(c2', [c1, c2', *rest])`` with c2 width-scaled to an even count.

    A row that cannot be built is refused here with ``ValueError("layer i Block: ...")`` naming the argument.
    """
    name = m.__name__
    if not args or not isinstance(args[0], int) or isinstance(args[0], bool):
        raise ValueError(f"layer {i} {name}: first argument must be the output channel count (an int), got {args!r}")
    args = [int(min(args[0], max_channels)), *args[1:]]  # ultralytics' cap, before the width gain
    check = getattr(blocks, "check_yaml_args", None)  # the blocks' own yaml check, where blocks.py has it
    if check is not None:
        check(m, args, i, c1=c1, n=n, width_multiple=width)
    c2 = scale_width(args[0], width)
    if n > 1 and c1 != c2:
        raise ValueError(f"layer {i} {name}: {n} repeats need c1 == c2 (each copy gets the same arguments), got "
                         f"c1={c1}, c2={c2}; put the first unit of the stage (the one that changes the width) on "
                         f"its own row")
    return c2, [c1, c2, *args[1:]]


def _version() -> str:
    try:
        import ultralytics

        return ultralytics.__version__
    except Exception:  # pragma: no cover - only for the message
        return "?"


def _fail(reason: str) -> RegistrationError:
    return RegistrationError(f"yolov5-shuffle cannot register its blocks in ultralytics {_version()}: {reason} "
                             f"(tested with ultralytics 8.0.200 to 8.4.190; pin one of those or report it)")


def _is_layer_loop(node) -> bool:
    """``for i, (f, n, m, args) in enumerate(...)``: the loop over yaml rows."""
    t = node.target if isinstance(node, ast.For) else None
    if not (isinstance(t, ast.Tuple) and len(t.elts) == 2 and isinstance(t.elts[1], ast.Tuple)):
        return False
    names = [getattr(e, "id", None) for e in t.elts[1].elts]
    return names == ["f", "n", "m", "args"]


def _is_membership_if(node) -> bool:
    """``if m in <something>:``, the first of which is the base-modules branch."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "m" and len(node.test.ops) == 1 and isinstance(node.test.ops[0], ast.In))


def _build_parse_model(tasks):
    """Compile ultralytics' own parse_model with our branch in front of its base-modules branch."""
    original = tasks.parse_model
    try:
        source = textwrap.dedent(inspect.getsource(original))
    except (OSError, TypeError) as e:
        raise _fail(f"the source of parse_model is not readable ({e})") from None
    tree = ast.parse(source)
    func = tree.body[0]
    if not (isinstance(func, ast.FunctionDef) and func.name == "parse_model"):
        raise _fail("parse_model is not a plain function")
    assigned = {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    missing = {"ch", "width", "max_channels", "n"} - assigned
    if missing:
        raise _fail(f"parse_model no longer defines {', '.join(sorted(missing))}")
    loop = next((n for n in ast.walk(func) if _is_layer_loop(n)), None)
    if loop is None:
        raise _fail("parse_model has no 'for i, (f, n, m, args) in ...' loop")
    k = next((j for j, s in enumerate(loop.body) if _is_membership_if(s)), None)
    if k is None:
        raise _fail("parse_model's layer loop has no 'if m in <modules>:' branch to extend")
    ours = ast.parse(f"if m in {_SET_NAME}:\n"
                     f"    c2, args = {_HELPER_NAME}(m, ch[f], args, n, width, max_channels, i)\n").body[0]
    ours.orelse = [loop.body[k]]
    loop.body[k] = ours
    first = 1 if ast.get_docstring(func) is not None else 0  # the dict checked as data before anything reads it
    func.body.insert(first, ast.parse(f"{_CHECK_NAME}({func.args.args[0].arg})").body[0])
    func.decorator_list = []
    ast.fix_missing_locations(tree)
    futures = (getattr(__future__, name) for name in __future__.all_feature_names)  # as tasks.py was compiled
    flags = sum(f.compiler_flag for f in futures if original.__code__.co_flags & f.compiler_flag)
    code = compile(tree, f"<yolov5_shuffle: parse_model of {inspect.getsourcefile(original)}>", "exec", flags=flags,
                   dont_inherit=True)
    namespace = {}
    exec(code, tasks.__dict__, namespace)  # globals: tasks' own, so every ultralytics name resolves as before
    rebuilt = namespace["parse_model"]
    functools.update_wrapper(rebuilt, original)
    del rebuilt.__wrapped__  # inspect.getsource(rebuilt) must not claim to be the original
    setattr(rebuilt, _MARK, original)
    return rebuilt


def _check_model_dict(d) -> None:
    """parse_model's first line: the yaml dict refused (ConfigError naming the file and the layer or key) unless it
    is data whose module names are layers of ``tasks`` (ultralytics evals ``activation`` and looks names up in its
    globals, where functions that load checkpoints live too)."""
    from ultralytics.nn import tasks

    from yolov5_shuffle.untrusted.model_yaml import check_in_namespace

    source = d.get("yaml_file") if isinstance(d, dict) else None
    check_in_namespace(d, str(source or "the model dict"), vars(tasks))


# ---------------------------------------------------------------------------------------------------------- fuse hooks
def _block_classes() -> list[type]:
    """Every nn.Module class defined in yolov5_shuffle.blocks (our 5 blocks and their inner ConvBN)."""
    return [v for v in vars(blocks).values()
            if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == blocks.__name__]


def _unfused(model: nn.Module) -> bool:
    """Whether some conv of ours still has its BatchNorm."""
    return any(type(m).__module__ == blocks.__name__ and isinstance(getattr(m, "bn", None), nn.BatchNorm2d)
               and callable(getattr(m, "fuse", None)) for m in model.modules())


def _make_fuse(original, tasks):
    is_qat = getattr(tasks, "is_qat", None)

    @functools.wraps(original)
    def fuse(self, *args, **kwargs):
        if not (is_qat and is_qat(self)):  # a QAT model keeps its (fake-quantised) convs as trained
            fuse_blocks(self)
        return original(self, *args, **kwargs)

    setattr(fuse, _MARK, original)
    return fuse


def _make_is_fused(original):
    @functools.wraps(original)
    def is_fused(self, *args, **kwargs):
        return original(self, *args, **kwargs) and not _unfused(self)

    setattr(is_fused, _MARK, original)
    return is_fused


def _make_check_yaml(original):
    @functools.wraps(original)
    def check_yaml(file, *args, **kwargs):
        ours = resolve_config(file) if isinstance(file, (str, os.PathLike)) else None
        return original(str(ours) if ours else file, *args, **kwargs)

    setattr(check_yaml, _MARK, original)
    return check_yaml


# ------------------------------------------------------------------------------------------------------------ register
def register() -> None:
    """Make our 5 blocks first-class layers of this process's ultralytics (idempotent, thread-safe).

    Raises RegistrationError (a UserError, one line naming the ultralytics version) when ultralytics is
    missing or its parse_model has a shape we cannot extend; nothing is changed then.
    """
    with _LOCK:
        try:
            import ultralytics.nn.tasks as tasks
        except ImportError as e:
            raise RegistrationError(f"yolov5-shuffle: ultralytics is not importable ({e}); pip install ultralytics") \
                from None
        if getattr(tasks.parse_model, _MARK, None) is not None:
            return
        for cls in BLOCKS:  # a same-named ultralytics layer would make yaml names ambiguous
            other = tasks.__dict__.get(cls.__name__)
            if other is not None and other is not cls:
                raise _fail(f"ultralytics.nn.tasks already defines a layer named {cls.__name__}")
        rebuilt = _build_parse_model(tasks)  # may raise: before any change

        for cls in BLOCKS:
            setattr(tasks, cls.__name__, cls)  # yaml names resolve through tasks' globals()
        setattr(tasks, _SET_NAME, frozenset(BLOCKS))
        setattr(tasks, _HELPER_NAME, _yolov5_shuffle_layer)
        setattr(tasks, _CHECK_NAME, _check_model_dict)

        base = tasks.BaseModel
        if getattr(base.fuse, _MARK, None) is None:
            base.fuse = _make_fuse(base.fuse, tasks)
        if hasattr(base, "is_fused") and getattr(base.is_fused, _MARK, None) is None:
            base.is_fused = _make_is_fused(base.is_fused)
        if hasattr(tasks, "check_yaml") and getattr(tasks.check_yaml, _MARK, None) is None:
            tasks.check_yaml = _make_check_yaml(tasks.check_yaml)

        import torch.serialization as ser

        if hasattr(ser, "add_safe_globals"):  # weights_only loads (ULTRALYTICS_SAFE_LOAD=1) accept our layers
            ser.add_safe_globals(_block_classes())

        original = tasks.parse_model
        tasks.parse_model = rebuilt  # last: the mark that says "registered"
        nn_pkg = sys.modules.get("ultralytics.nn")
        if nn_pkg is not None and getattr(nn_pkg, "parse_model", None) is original:
            nn_pkg.parse_model = rebuilt


def autoregister() -> bool:
    """Register if ultralytics is already imported in this process; warn instead of raising. True if registered.

    Meant for ``yolov5_shuffle/__init__.py``, which runs whenever an ultralytics checkpoint that contains our
    blocks is unpickled (the unpickler imports ``yolov5_shuffle.blocks``, hence the package)::

        if "ultralytics.nn.tasks" in sys.modules:
            from .hosts.ultralytics.registration import autoregister
            autoregister()
    """
    if "ultralytics.nn.tasks" not in sys.modules:
        return False
    try:
        register()
        return True
    except RegistrationError as e:
        warnings.warn(str(e), stacklevel=2)
        return False


def is_registered() -> bool:
    tasks = sys.modules.get("ultralytics.nn.tasks")
    return tasks is not None and getattr(tasks.parse_model, _MARK, None) is not None
