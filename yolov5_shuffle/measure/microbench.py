"""Per-block micro-benchmark: our units against torchvision's with the same shapes and weights, and the
channel-shuffle implementations worth trying (each checked exact before it is timed).

The shapes are those of a 640 px input: ShuffleNetV2 1.0x stage2 runs at 80x80 with 116 channels.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models import mobilenetv2 as tv_mobilenet
from torchvision.models import shufflenetv2 as tv_shufflenet

from .. import blocks
from .timing import time_interleaved
from ..weights import map_backbone

# (label, in channels, out channels, stride, input side)
SHUFFLE_CASES = [("stride 2, 24->116 @160", 24, 116, 2, 160), ("stride 1, 116 @80", 116, 116, 1, 80),
                 ("stride 1, 232 @40", 232, 232, 1, 40)]
MOBILE_CASES = [("stride 2, 24->32 t6 @160", 24, 32, 2, 160), ("stride 1, 32 t6 @80", 32, 32, 1, 80),
                ("stride 1, 96 t6 @40", 96, 96, 1, 40)]


FOLD_BOUND = "cat only, shuffle folded away (bound)"


def _randomize(m: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.1)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    return m.eval()


def _pair(tv: nn.Module, ours: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Give ours torchvision's weights (same tensor order) and check both compute the same."""
    _randomize(tv)
    ours.load_state_dict(map_backbone(list(tv.state_dict().items()), list(ours.state_dict().items())))
    return tv, ours.eval()


def block_cases():
    """(family, label, torchvision module, our module, input) for every timed block."""
    tv_stem = tv_shufflenet.shufflenet_v2_x1_0()
    yield ("stem", "conv1 + maxpool, 3->24 @640", nn.Sequential(tv_stem.conv1, tv_stem.maxpool),
           blocks.conv_bn_relu_maxpool(3, 24), torch.randn(1, 3, 640, 640))
    for label, c1, c2, s, side in SHUFFLE_CASES:
        yield ("shufflenet", label, tv_shufflenet.InvertedResidual(c1, c2, s),
               blocks.ShuffleNetV2_InvertedResidual(c1, c2, s), torch.randn(1, c1, side, side))
    for label, c1, c2, s, side in MOBILE_CASES:
        yield ("mobilenet", label, tv_mobilenet.InvertedResidual(c1, c2, s, 6), blocks.MobileNetV2_Block(c1, c2, s, 6),
               torch.randn(1, c1, side, side))


def shuffle_variants() -> dict:
    """cat + shuffle implementations: name -> f(a, b)."""
    def cat_view_transpose(a, b):  # torchvision
        return blocks.channel_shuffle(torch.cat((a, b), 1), 2)

    def cat_index_select(a, b):
        c = a.shape[1]
        perm = torch.arange(2 * c).view(2, c).t().reshape(-1)
        return torch.cat((a, b), 1).index_select(1, perm)

    return {"cat+view/transpose (torchvision)": cat_view_transpose, "stack+reshape (ours)": blocks.concat_shuffle,
            "cat+index_select": cat_index_select}


def cat_only(a, b):
    """The concat with the shuffle removed: the most that folding the permutation into the next layer's
    weights could reach (not exact on its own, so timed as a bound, never used as a variant)."""
    return torch.cat((a, b), 1)


def _ratio_row(label, times, ours, ref):
    ratio = statistics.median(a / b for a, b in zip(times[ours], times[ref]))
    return {"case": label, "ours_ms": statistics.median(times[ours]), "torchvision_ms": statistics.median(times[ref]),
            "ratio": ratio}


def run_micro(reps: int = 50, threads: int | None = None, out: Path | None = None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    reps = max(reps, 20)
    result = {"threads": torch.get_num_threads(), "reps": reps, "stem": [], "shufflenet": [], "mobilenet": [],
              "shuffle": []}
    with torch.no_grad():
        for fam, label, tv, ours, x in block_cases():
            tv, ours = _pair(tv, ours)
            assert torch.equal(tv(x), ours(x)) if fam == "stem" else torch.allclose(tv(x), ours(x), atol=1e-5), label
            t = time_interleaved({"tv": lambda: tv(x), "ours": lambda: ours(x)}, reps, 5)
            result[fam].append(_ratio_row(label, t, "ours", "tv"))
        a, b = torch.randn(1, 58, 80, 80), torch.randn(1, 58, 80, 80)
        variants = shuffle_variants()
        ref = next(iter(variants.values()))(a, b)
        for name, f in variants.items():
            assert torch.equal(f(a, b), ref), f"{name} is not exact"
        timed = {**variants, FOLD_BOUND: cat_only}
        t = time_interleaved({n: (lambda f=f: f(a, b)) for n, f in timed.items()}, reps, 5)
        base = next(iter(variants))
        for n in timed:
            result["shuffle"].append({"variant": n, "median_us": statistics.median(t[n]) * 1e3,
                                      "ratio_to_torchvision": statistics.median(x / y for x, y in zip(t[n], t[base]))})
    md = [f"Per-block micro-benchmark ({result['threads']} threads, {reps} interleaved rounds, PyTorch eager, "
          "batch 1; ratio = ours / torchvision per round, median)", "",
          "| block | case | ours ms | torchvision ms | ratio |", "|---|---|---:|---:|---:|"]
    for fam in ("stem", "shufflenet", "mobilenet"):
        for r in result[fam]:
            md.append(f"| {fam} | {r['case']} | {r['ours_ms']:.3f} | {r['torchvision_ms']:.3f} | {r['ratio']:.2f} |")
    md += ["", "| concat + channel shuffle (2 x 58 x 80 x 80) | median us | ratio |", "|---|---:|---:|"]
    for r in result["shuffle"]:
        md.append(f"| {r['variant']} | {r['median_us']:.0f} | {r['ratio_to_torchvision']:.2f} |")
    text = "\n".join(md)
    print("\n" + text)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "micro.json").write_text(json.dumps(result, indent=1))
        (Path(out) / "micro.md").write_text(text + "\n")
    return result
