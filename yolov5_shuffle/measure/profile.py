"""Where the time goes: a fused model's CPU time split by kind of operator (``yolov5-shuffle bench --profile``).

ShuffleNetV2's guidelines name the costs FLOPs miss: memory access in depthwise convs, element-wise
ops, and the copies of split/concat/shuffle. This profile measures them. Each top-level ATen call of
one forward pass (torch.profiler, shapes recorded) is put in one category by what it is; depthwise
and 1x1 convs are told apart by their weight's shape. Times are inclusive, so nested calls (a stack
that calls cat) are counted once, in the category of the outer call.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict

import torch

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # quiets the profiler backend (its USDT start/stop lines still print)

CATEGORIES = ("dense conv (k>1)", "1x1 conv", "depthwise conv", "activation", "concat / shuffle copies",
              "add", "pool / upsample", "other")


def categorize(name: str, shapes: list) -> str:
    """The category of one ATen call from its name and its inputs' shapes."""
    op = name.removeprefix("aten::").rstrip("_")
    if op in ("conv2d", "convolution", "_convolution", "mkldnn_convolution"):
        w = shapes[1] if len(shapes) > 1 else []
        if len(w) == 4 and w[1] == 1 and w[2] > 1:
            return "depthwise conv"
        return "1x1 conv" if len(w) == 4 and w[2] == w[3] == 1 else "dense conv (k>1)"
    if op in ("silu", "relu", "hardtanh", "relu6", "sigmoid", "hardswish", "leaky_relu"):
        return "activation"
    if op in ("cat", "stack", "reshape", "view", "transpose", "chunk", "split", "slice", "contiguous", "clone",
              "copy", "index_select", "narrow"):
        return "concat / shuffle copies"
    if op == "add":
        return "add"
    if op in ("max_pool2d", "max_pool2d_with_indices", "upsample_nearest2d", "adaptive_avg_pool2d",
              "pad", "constant_pad_nd", "maximum"):  # the last three: the stem's strided max-pool
        return "pool / upsample"
    return "other"


def profile_model(model, imgsz: int, reps: int = 5) -> dict[str, float]:
    """Median milliseconds per category over ``reps`` profiled forward passes (after one warm-up)."""
    from torch.profiler import ProfilerActivity, profile

    x = torch.randn(1, 3, imgsz, imgsz)
    per_rep = []
    with torch.no_grad():
        model(x)
        for _ in range(reps):
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                model(x)
            ms = defaultdict(float)
            for e in prof.events():
                if e.cpu_parent is None and e.name.startswith("aten::"):
                    ms[categorize(e.name, e.input_shapes or [])] += e.cpu_time_total / 1e3
            per_rep.append(ms)
    return {c: statistics.median(r.get(c, 0.0) for r in per_rep) for c in CATEGORIES}


def markdown(profiles: dict[str, dict[str, float]], imgsz: int, threads: int) -> str:
    """One row per config: ms per category and the share of the total."""
    lines = [f"Where the time goes at {imgsz} px (PyTorch eager, fused, batch 1, {threads} threads; "
             "median ms of profiled passes, share of total in brackets)", "",
             "| config | total ms | " + " | ".join(CATEGORIES) + " |", "|---|---:|" + "---:|" * len(CATEGORIES)]
    for cfg, p in profiles.items():
        total = sum(p.values())
        cells = [f"{p[c]:.1f} ({100 * p[c] / total:.0f}%)" for c in CATEGORIES]
        lines.append(f"| {cfg} | {total:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
