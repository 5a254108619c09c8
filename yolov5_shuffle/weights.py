"""Map torchvision ImageNet backbones onto our configs' backbones (``init-weights``).

Our blocks register their tensors in the same order as torchvision's (conv weight, then its BN's
weight, bias, running mean, running var, batch count), so a backbone transfers by walking both state
dicts in order and checking every shape; the first mismatch stops everything, naming both sides.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn

from . import blocks
from .errors import UserError, user_path

# What of each torchvision classifier is the feature extractor our backbones reproduce.
_TV_BACKBONES = {
    "shufflenetv2": re.compile(r"^(conv1|stage2|stage3|stage4)\."),
    "mobilenetv2": re.compile(r"^features\.(\d|1[0-7])\."),  # features[0..17]; [18] is the 1280 head conv
}
_OUR_BLOCKS = tuple(b for b in blocks.BLOCKS if b is not blocks.DWSConv)  # the ones torchvision has


class WeightsError(UserError):
    pass


def torchvision_family(state: dict) -> str:
    if "stage2.0.branch1.0.weight" in state:
        return "shufflenetv2"
    if "features.1.conv.0.0.weight" in state and "features.17.conv.0.0.weight" in state:
        return "mobilenetv2"
    raise WeightsError("not a torchvision shufflenet_v2_* or mobilenet_v2 state dict "
                       "(no stage2.0.branch1.0.weight / features.17.conv.0.0.weight keys)")


def torchvision_backbone(state: dict) -> list[tuple[str, torch.Tensor]]:
    keep = _TV_BACKBONES[torchvision_family(state)]
    return [(k, v) for k, v in state.items() if keep.match(k)]


def backbone_prefix(layers: nn.Sequential) -> int:
    """How many leading layers of a YOLOv5 ``model.model`` are our ImageNet-style blocks."""
    n = 0
    for m in layers:
        inner = list(m) if isinstance(m, nn.Sequential) else [m]
        if not inner or not all(isinstance(x, _OUR_BLOCKS) for x in inner):
            break
        n += 1
    return n


def map_backbone(source: list[tuple[str, torch.Tensor]], target: list[tuple[str, torch.Tensor]]) -> OrderedDict:
    """Pair source and target tensors in order; raise WeightsError on the first shape or count mismatch."""
    for (sk, sv), (tk, tv) in zip(source, target):
        if sv.shape != tv.shape:
            raise WeightsError(f"layer mismatch: torchvision {sk} {tuple(sv.shape)} vs config {tk} {tuple(tv.shape)}")
    if len(source) != len(target):
        longer, side = (source, "torchvision") if len(source) > len(target) else (target, "config")
        k, v = longer[min(len(source), len(target))]
        raise WeightsError(f"layer mismatch: {side} has more backbone tensors ({len(source)} vs {len(target)}); "
                           f"first unmatched: {k} {tuple(v.shape)}")
    return OrderedDict((tk, sv.clone()) for (_, sv), (tk, _) in zip(source, target))


def load_torchvision_backbone(layers: nn.Sequential, state: dict, prefix: str = "") -> int:
    """Copy a torchvision backbone into the leading block layers of ``layers``; return tensors copied."""
    n = backbone_prefix(layers)
    if n == 0:
        raise WeightsError("the config's backbone has no ShuffleNetV2/MobileNetV2 layers to load into")
    target = [(f"{prefix}{k}", v) for k, v in nn.Sequential(*layers[:n]).state_dict().items()]
    mapped = map_backbone(torchvision_backbone(state), target)
    own = nn.Sequential(*layers[:n])
    own.load_state_dict(OrderedDict((k[len(prefix):], v) for k, v in mapped.items()), strict=True)
    return len(mapped)


def load_torchvision_state(path: Path) -> dict:
    """A torchvision shufflenet_v2_* / mobilenet_v2 state dict from ``path``, or WeightsError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  junk, a truncated download, a pickled model, not torch at all
        raise WeightsError(f"not a torchvision state dict: {path} (torch.load cannot read it: {type(e).__name__}; "
                           "expected a .pth file of torch.save(model.state_dict()))") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"not a torchvision state dict: {path} (expected a mapping of tensor names to tensors, "
                           f"got {type(state).__name__})")
    try:
        torchvision_family(state)
    except WeightsError as e:
        raise WeightsError(f"not a torchvision state dict: {path} ({e})") from None
    return state


def check_out(out: Path) -> Path:
    """Refuse an --out that cannot take a new file, before anything is built or written."""
    out = Path(out)
    if out.is_dir():
        raise WeightsError(f"--out {out}: is a folder; give a file name, e.g. {out / 'init.pt'}")
    parent = next((p for p in (out.parent, *out.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise WeightsError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise WeightsError(f"--out {out}: folder {parent} is not writable")
    return out


def check_not_an_input(out: Path, *inputs: Path) -> None:
    """Refuse an --out that is one of the inputs: writing it would replace what the run reads."""
    for given in inputs:
        if given is not None and Path(given).exists() and out.exists() and os.path.samefile(out, given):
            raise WeightsError(f"--out {out}: is the input {given}; writing it would replace that file; "
                               "give another --out")


def init_weights(cfg: str | Path, tv_weights: Path, out: Path, nc: int | None = None) -> Path:
    """Build CFG with its host (YOLOv5, YOLOv7, ultralytics, ...), load the torchvision backbone, and save a
    checkpoint the host starts training from (``train.py --weights`` or ultralytics' ``pretrained=``).

    Every input is checked before the model is built, and the checkpoint appears whole or not at all."""
    from .hosts import host_for

    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise WeightsError(f"--nc must be a whole number >= 1, got {nc!r}")
    out = check_out(out)
    host = host_for(cfg)
    try:
        cfg_path = host.resolve_config(cfg)
    except FileNotFoundError as e:
        raise WeightsError(str(e)) from e
    check_not_an_input(out, Path(tv_weights), cfg_path)
    state = load_torchvision_state(tv_weights)
    model = host.build(cfg_path, nc=nc, fused=False)
    n = load_torchvision_backbone(model.model, state, prefix="model.")
    ckpt = {"model": model, "epoch": -1, "best_fitness": None, "optimizer": None, "ema": None, "updates": None,
            "opt": None, "train_args": {}, "yolov5_shuffle": {"cfg": cfg_path.name, "torchvision_weights": str(tv_weights)}}
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"  # created by torch.save with the umask's mode
    with user_path("--out", out):  # a full disk, a folder we may not write
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            torch.save(ckpt, tmp)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    print(f"transferred {n} tensors ({torchvision_family(state)} backbone, {backbone_prefix(model.model)} layers) "
          f"from {tv_weights} into {cfg_path.name} -> {out}")
    return out
