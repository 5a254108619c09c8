#!/usr/bin/env python3
"""The ablation table's params and GFLOPs (docs/ablation/README.md), counted on the models themselves.

Each config of the ablation (one change at a time against yolov5n-shufflenetv2.yaml) is built by the YOLOv5
host (the vendored tree), fused as ``bench`` builds it, with nc=80; GFLOPs at 160 px are ``bench``'s count
(thop MACs x 2). Latency and accuracy stay "TBD": they come from the latency screen and the training grid,
not from this script, which times and trains nothing. Usage:

  .venv/bin/python scripts/ablation_table.py            # print the table
  .venv/bin/python scripts/ablation_table.py --write    # and put it into docs/ablation/README.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "docs" / "ablation" / "README.md"
BASE = "yolov5_shuffle/cfg/yolov5/yolov5n-shufflenetv2.yaml"
IMGSZ = 160
CHANGES = [  # (what changed against the base, the config, relative to the repository root)
    ("none (the base)", BASE),
    ("width x0.75: stages 88/176/352", "docs/ablation/yolov5n-shufflenetv2-width-x0_75.yaml"),
    ("width x1.0: stages 116/232/464", "docs/ablation/yolov5n-shufflenetv2-width-x1_0.yaml"),
    ("width x1.5: stages 176/352/704", "docs/ablation/yolov5n-shufflenetv2-width-x1_5.yaml"),
    ("units' activation LeakyReLU (0.1)", "docs/ablation/yolov5n-shufflenetv2-act-leakyrelu.yaml"),
    ("units' activation H-Swish", "docs/ablation/yolov5n-shufflenetv2-act-hswish.yaml"),
    ("units' activation SiLU", "docs/ablation/yolov5n-shufflenetv2-act-silu.yaml"),
    ("5x5 depthwise in stages 3-4", "docs/ablation/yolov5n-shufflenetv2-k5-stages34.yaml"),
    ("stem: max-pool -> 3x3 s2 conv", "docs/ablation/yolov5n-shufflenetv2-stem-conv.yaml"),
    ("stem: max-pool -> 3x3 s2 depthwise-separable conv", "docs/ablation/yolov5n-shufflenetv2-stem-dwsconv.yaml"),
    ("stem: 32 channels", "docs/ablation/yolov5n-shufflenetv2-stem32.yaml"),
    ("SE (reduction 4, hard-sigmoid) in stage 4", "docs/ablation/yolov5n-shufflenetv2-se-stage4.yaml"),
    ("neck: Ghost-PAN style, 96 channels, 5x5 DWSConv", "docs/speed-goal/yolov5n-shufflenetv2-ghostpan96.yaml"),
]
BEGIN = "<!-- ablation-table: written by scripts/ablation_table.py --write -->"
END = "<!-- /ablation-table -->"


def measure(cfg: str) -> dict:
    """Params and GFLOPs at IMGSZ of one config, built fused (eval) by its host with nc=80."""
    from yolov5_shuffle.hosts import build
    from yolov5_shuffle.measure.bench import gflops

    model = build(str(ROOT / cfg), nc=80)
    return {"params": sum(p.numel() for p in model.parameters()), "gflops": gflops(model, IMGSZ)}


def table(rows: list[dict]) -> str:
    """The README's markdown table: one row per change, latency and mAP left to their runs."""
    lines = [f"| change | config | params (M) | GFLOPs @{IMGSZ} | latency (x base) | mAP50-95 |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        link = Path(os.path.relpath(ROOT / r["cfg"], README.parent)).as_posix()
        lines.append(f"| {r['change']} | [{Path(r['cfg']).name}]({link}) | {r['params'] / 1e6:.3f} | "
                     f"{r['gflops']:.3f} | TBD | TBD |")
    return "\n".join(lines) + "\n"


def with_table(text: str, new: str) -> str:
    """``text`` (the README) with the part between BEGIN and END replaced by ``new``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{README}: expected one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN)
    return head + BEGIN + "\n" + new + END + rest.split(END, 1)[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help=f"put the table into {README.relative_to(ROOT)}")
    a = p.parse_args(argv)
    rows = [{"change": change, "cfg": cfg, **measure(cfg)} for change, cfg in CHANGES]
    text = table(rows)
    print(text, end="")
    if a.write:
        README.write_text(with_table(README.read_text(), text))
        print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
