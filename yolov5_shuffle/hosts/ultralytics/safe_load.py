"""ultralytics' own checkpoint loading routed through our safe loader, for as long as the ``yolo`` route runs.

Every ultralytics path to a ``.pt`` (``torch_safe_load``, hence ``load_checkpoint``, ``attempt_load_one_weight``,
AutoBackend, the trainer's ``pretrained``/``resume``/final validation, ``strip_optimizer``) calls
``torch_load`` from ``ultralytics/utils/patches.py``, which unpickles freely: a file naming ultralytics classes
could run any code. :func:`safe_loading` swaps that name, in ``patches`` and in every loaded ultralytics module
that imported it, for :func:`yolov5_shuffle.checkpoints.load` (weights_only plus an allowlist: torch and our
layers, ultralytics' model classes created but never called, and the one plain class its checkpoints rebuild
by a call, ``IterableSimpleNamespace``: the train arguments) and puts the original back on exit. Not done
at registration: in Python ``YOLO("x.pt")`` keeps ultralytics' own loader (``ULTRALYTICS_SAFE_LOAD=1`` restricts
it), unless the caller wraps it in :func:`safe_loading`.
"""

from __future__ import annotations

import contextlib
import sys
import threading

from ...checkpoints import load
MODEL_MODULES = ("ultralytics.nn.",)  # where its pickled layers live: created (never called) when loading
CHECKPOINT_CALLS = ("ultralytics.utils.IterableSimpleNamespace",)  # train args, rebuilt by a call until strip_optimizer
_LOCK = threading.Lock()


def safe_torch_load(f, map_location=None, **kwargs):
    """ultralytics' ``torch_load(f, map_location=..., weights_only=...)``, through our loader (``weights_only`` and
    ``pickle_module`` are ours to decide, so they are dropped)."""
    kwargs.pop("pickle_module", None)
    return load(f, map_location=map_location, modules=MODEL_MODULES, calls=CHECKPOINT_CALLS, **kwargs)


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
