"""ultralytics' own checkpoint loading routed through our safe loader, for as long as the ``yolo`` route runs.

Every ultralytics path to a ``.pt`` (``torch_safe_load``, hence ``load_checkpoint``, ``attempt_load_one_weight``,
AutoBackend, the trainer's ``pretrained``/``resume``/final validation, ``strip_optimizer``) calls
``torch_load`` from ``ultralytics/utils/patches.py``, which unpickles freely: a file naming ultralytics classes
could run any code. :func:`safe_loading` swaps that name, in ``patches`` and in every loaded ultralytics module
that imported it, for :func:`yolov5_shuffle.untrusted.checkpoint.load` (calls only to torch's rebuild
functions, checked; torch's and our layers and ultralytics' classes created, never called, the train-arguments
namespace included) and puts the original back on exit. Not done at registration: in Python ``YOLO("x.pt")`` keeps ultralytics' own loader (``ULTRALYTICS_SAFE_LOAD=1`` restricts
it), unless the caller wraps it in :func:`safe_loading`.
"""

from __future__ import annotations

import contextlib
import sys
import threading

from ...untrusted.checkpoint import load

# where its pickled classes live: layers (ultralytics.nn) and the train-args namespace (ultralytics.utils), created
# by the loader, never called with arguments
CHECKPOINT_MODULES = ("ultralytics.",)
_LOCK = threading.Lock()


def safe_torch_load(f, map_location=None, **kwargs):
    """ultralytics' ``torch_load(f, map_location=..., weights_only=...)``, through our loader (``weights_only`` and
    ``pickle_module`` are ours to decide, so they are dropped)."""
    kwargs.pop("pickle_module", None)
    return _without_remote_data(load(f, map_location=map_location, modules=CHECKPOINT_MODULES, **kwargs))


def _without_remote_data(ckpt):
    """The checkpoint without a ``train_args['data']`` that is a URL: ultralytics validates or trains on that
    dataset when ``data=`` is not given, downloading its yaml and running the yaml's ``download:`` script, so a
    checkpoint from anyone would run code from wherever it points. Its own dataset paths and names are kept."""
    args = ckpt.get("train_args") if isinstance(ckpt, dict) else None
    if isinstance(args, dict) and isinstance(args.get("data"), str) and "://" in args["data"]:
        del args["data"]
    return ckpt


def _holders(name: str, value) -> list:
    """Loaded ultralytics modules whose global ``name`` is ``value``."""
    return [m for k, m in list(sys.modules.items())
            if (k == "ultralytics" or k.startswith("ultralytics.")) and m is not None
            and getattr(m, "__dict__", {}).get(name) is value]


@contextlib.contextmanager
def safe_loading():
    """Within this block ultralytics loads checkpoints only through our safe loader (re-entrant)."""
    import ultralytics.utils.patches as patches

    with _LOCK:
        original = patches.torch_load
        swapped = [] if original is safe_torch_load else _holders("torch_load", original)
        for m in swapped:
            m.torch_load = safe_torch_load
    try:
        yield
    finally:
        with _LOCK:
            if swapped:  # modules imported inside the block took ours from patches: they get the original too
                for m in _holders("torch_load", safe_torch_load):
                    m.torch_load = original
