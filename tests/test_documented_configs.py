"""The configs docs/ reports on (docs/speed-goal, docs/ablation) stay buildable: checked, built by YOLOv5, one
prediction a box, BatchNorms fused away with the same outputs, ONNX export with the same outputs; and the
ablation table lists every ablation config with the parameters its model has."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

from test_blocks import randomize_bn

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = sorted(p for folder in ("speed-goal", "ablation") for p in (ROOT / "docs" / folder).glob("*.yaml")
                    if p.name != "grid.yaml")  # grid.yaml: the yardstick points (tests/test_speed_goal_front.py)
ABLATION = ROOT / "docs" / "ablation"
BASE = ROOT / "yolov5_shuffle" / "cfg" / "yolov5" / "yolov5n-shufflenetv2.yaml"


def readme_params(cfg: Path) -> str | None:
    """The params (M) cell of ``cfg``'s row in docs/ablation/README.md's table, or None without a row."""
    for line in (ABLATION / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].startswith(f"[{cfg.name}]"):
            return cells[2]
    return None


@pytest.mark.parametrize("cfg", DOCUMENTED, ids=[f"{p.parent.name}/{p.stem}" for p in DOCUMENTED])
def test_documented_config_builds_predicts_fuses_and_exports(yolo_root, cfg, tmp_path):
    from yolov5_shuffle.cfg_check import check_model_yaml
    from yolov5_shuffle.hosts import build as build_model

    check_model_yaml(cfg, yolo_root)
    model = build_model(str(cfg), fused=False)
    randomize_bn(model)
    model.eval()
    strides = [int(s) for s in model.model[-1].stride]
    assert strides[:3] == [8, 16, 32] and strides[3:] in ([], [64])  # P3-P5, or P3-P6 (a 4-level Detect)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        (pred, *_) = model(x)
        assert pred.shape == (1, 3 * sum((128 // s) ** 2 for s in strides), 85)  # 3 anchors a cell, nc=80
        model.fuse()
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "BatchNorm left after fuse"
        (fused, *_) = model(x)
    assert torch.allclose(pred, fused, rtol=1e-4, atol=1e-3), (pred - fused).abs().max()
    ort = pytest.importorskip("onnxruntime")
    torch.onnx.export(model, x, str(tmp_path / "m.onnx"), opset_version=17, input_names=["images"], dynamo=False)
    (y, *_) = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"images": x.numpy()})
    assert abs(y - fused.numpy()).max() <= 1e-3 * max(1.0, fused.abs().max().item())
    if cfg.parent == ABLATION:
        params = sum(p.numel() for p in model.parameters())
        assert readme_params(cfg) == f"{params / 1e6:.3f}", "docs/ablation/README.md: run scripts/ablation_table.py"


def test_ablation_table_has_a_row_for_the_base_and_every_ablation_config():
    spec = importlib.util.spec_from_file_location("ablation_table", ROOT / "scripts" / "ablation_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    cfgs = [ROOT / cfg for _, cfg in script.CHANGES]
    assert cfgs[0] == BASE
    assert {p for p in cfgs if p.parent == ABLATION} == set(ABLATION.glob("*.yaml"))
    assert all(p.is_file() and readme_params(p) is not None for p in cfgs)


@pytest.mark.parametrize("cfg", sorted(ABLATION.glob("*.yaml")), ids=lambda p: p.stem)
def test_ablation_config_is_the_base_with_one_change(cfg):
    """Same classes, anchors, multiples and head as the base; the backbone differs, and the header says how."""
    base, ours = yaml.safe_load(BASE.read_text()), yaml.safe_load(cfg.read_text())
    for key in ("nc", "depth_multiple", "width_multiple", "anchors", "head"):
        assert ours[key] == base[key], key
    assert ours["backbone"] != base["backbone"]
    assert [r[:3] for r in ours["backbone"]] == [r[:3] for r in base["backbone"]]  # same rows, other arguments
    header = cfg.read_text().split("\nnc:")[0]
    assert header.startswith(f"# {cfg.stem}: ") and "One change against yolov5n-shufflenetv2.yaml" in header


def test_block_options_reach_the_blocks_unscaled_by_width_multiple(yolo_root, tmp_path):
    """parse_model scales c2 by width_multiple and passes the options as written (kernel 5 stays 5)."""
    from yolov5_shuffle import blocks
    from yolov5_shuffle.hosts import build as build_model

    d = yaml.safe_load(BASE.read_text())
    d["width_multiple"] = 0.5
    d["backbone"][0][3] = [24, "dwsconv", "hswish"]
    d["backbone"][5][3] = [192, 2, "silu", 5, True]
    d["backbone"][6][3] = [192, 1, "silu", 5, True]
    cfg = tmp_path / "yolov5n-shufflenetv2-options.yaml"
    cfg.write_text(yaml.safe_dump(d, sort_keys=False))
    model = build_model(str(cfg), fused=False)
    stem, unit = model.model[0], model.model[6][0]
    assert isinstance(stem.down, blocks.DWSConv) and isinstance(stem.conv.act, torch.nn.Hardswish)
    assert stem.conv.conv.out_channels == 12  # 24 x 0.5
    assert unit.branch2[1].conv.kernel_size == (5, 5) and unit.branch2[1].conv.in_channels == 48  # 96 x 0.5 / 2
    assert isinstance(unit.branch2[0].act, torch.nn.SiLU) and isinstance(unit.branch2[-1], blocks.SE)
