"""Model yamls and the YOLOv5 that builds them: a bad layer (width, stride, arguments, a misspelt module) is
refused naming the file and the layer, on every host and in the patched tree itself; our blocks in a missing or
unpatched YOLOv5 name the command that fixes it."""

from __future__ import annotations

import pytest
import yaml

from conftest import python_in, run_cli, snapshot
from errors_support import Case, assert_one_line, case_ids, check_input_case, edited_cfg, host_cfg, train_cfg
from yolov5_shuffle import blocks
from yolov5_shuffle.cfg_check import ConfigError, check_model_yaml
from yolov5_shuffle.patching import patch as patcher


def _cfg(old, new):
    return lambda w: edited_cfg(w / "bad.yaml", old, new)


STEM, UNIT = "[-1, 1, conv_bn_relu_maxpool, [24]]", "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2]]"
STEM_ARGS, UNIT_ARGS = "[c2, down='maxpool', act='relu']", "[c2, stride=1, act='relu', kernel=3, se=False]"


REFUSED = [
    Case("zero-width", train_cfg(_cfg(STEM, "[-1, 1, conv_bn_relu_maxpool, [0]]")), 2,
         "layer 0 conv_bn_relu_maxpool: argument c2 (output channels) must be a positive whole number, got 0"),
    Case("negative-width", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [-48, 2]]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: argument c2 (output channels) must be a positive whole number, "
         "got -48"),
    Case("fractional-width", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [47.5, 2]]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: argument c2 (output channels) must be a positive whole number, "
         "got 47.5"),
    Case("stride-three", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 3]]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: stride must be one of (1, 2), got 3"),
    Case("typo-in-our-block-suggests-it", train_cfg(_cfg("ShuffleNetV2_InvertedResidual, [48, 2]",
                                                         "ShuffleNetV2_InvertedResidul, [48, 2]")), 2,
         "layer 1: unknown module 'ShuffleNetV2_InvertedResidul'; closest known: ShuffleNetV2_InvertedResidual"),
    Case("typo-in-a-yolov5-module-suggests-it", train_cfg(_cfg("[-1, 1, Conv, [", "[-1, 1, Conw, [")), 2,
         "unknown module 'Conw'; closest known: Conv"),
    Case("typo-in-torch-nn-suggests-it", train_cfg(_cfg("nn.Upsample", "nn.Upsampel")), 2,
         "unknown module 'nn.Upsampel' (not in torch.nn); did you mean nn.Upsample?"),
    Case("too-few-block-arguments", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, []]")), 2,
         f"layer 1 ShuffleNetV2_InvertedResidual: expected arguments {UNIT_ARGS} (1 to 5 of them), got 0: []"),
    Case("too-many-block-arguments",
         train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2, 'relu', 3, False, 1]]")),
         2, f"expected arguments {UNIT_ARGS} (1 to 5 of them), got 6: [48, 2, 'relu', 3, False, 1]"),
    Case("too-many-stem-arguments", train_cfg(_cfg(STEM, "[-1, 1, conv_bn_relu_maxpool, [24, 'conv', 'relu', 2]]")),
         2, f"layer 0 conv_bn_relu_maxpool: expected arguments {STEM_ARGS} (1 to 3 of them), got 4: "
            "[24, 'conv', 'relu', 2]"),
    Case("unknown-activation", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2, 'gelu']]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: act must be one of ('relu', 'leakyrelu', 'hswish', 'silu'), got "
         f"'gelu' (yaml arguments {UNIT_ARGS}: [48, 2, 'gelu'])"),
    Case("even-depthwise-kernel", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2, 'relu', 4]]")),
         2, "layer 1 ShuffleNetV2_InvertedResidual: kernel (depthwise kernel size) must be one of (3, 5, 7), got 4"),
    Case("se-not-a-boolean", train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2, 'relu', 3, 1]]")),
         2, "layer 1 ShuffleNetV2_InvertedResidual: se must be true or false, got 1"),
    Case("unknown-stem-downsampling", train_cfg(_cfg(STEM, "[-1, 1, conv_bn_relu_maxpool, [24, 'avgpool']]")), 2,
         "layer 0 conv_bn_relu_maxpool: down must be one of ('maxpool', 'conv', 'dwsconv'), got 'avgpool'"),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_train_refuses_a_bad_model_yaml_naming_the_layer_before_yolov5_runs(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


# --- on every host's module names (read from its sources, nothing run) -------------------------------------

def test_model_yaml_checked_against_each_hosts_modules_and_patch_state(host_tree, tmp_path):
    kind, root = host_tree
    src = host_cfg(kind)
    stem = next(ln for ln in src.read_text().splitlines() if "conv_bn_relu_maxpool" in ln)
    row = stem.split("conv_bn_relu_maxpool")[0].strip().lstrip("-").strip().lstrip("[")  # e.g. "[-1, 1, "
    layer = [i for i, r in enumerate(yaml.safe_load(src.read_text())["backbone"]) if r[2] == "conv_bn_relu_maxpool"][0]
    with pytest.raises(ConfigError, match=rf"layer {layer} conv_bn_relu_maxpool: .*not patched.*yolov5-shuffle patch"):
        check_model_yaml(src, root)  # our blocks in an unpatched tree
    patcher.run(root)
    check_model_yaml(src, root)
    for old, new, fragment in [
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpool, [0]", "must be a positive whole number, got 0"),
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpool, [23.5]", "must be a positive whole number, got 23.5"),
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpol, [24]",
         "unknown module 'conv_bn_relu_maxpol'; closest known: conv_bn_relu_maxpool"),
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpool, []",
         f"expected arguments {STEM_ARGS} (1 to 3 of them), got 0"),
    ]:
        bad = edited_cfg(tmp_path / f"bad-{kind}.yaml", old, new, src)
        with pytest.raises(ConfigError) as e:
            check_model_yaml(bad, root)
        assert f"layer {layer}" in str(e.value) and fragment in str(e.value), str(e.value)
        assert str(bad) in str(e.value) and "\n" not in str(e.value)
    assert row  # the yaml row shape was found


def test_block_arguments_named_by_layer_with_the_input_channels():
    """What the patched parse_model runs for each of our rows, once the host knows c1 and the repeats."""
    check = blocks.check_yaml_args
    with pytest.raises(ValueError, match=r"layer 3 ShuffleNetV2_InvertedResidual: stride 1 keeps the channel count"):
        check(blocks.ShuffleNetV2_InvertedResidual, [116, 1], 3, c1=58)
    with pytest.raises(ValueError, match=r"layer 5 MobileNetV2_Block: 3 repeats need c1 == c2"):
        check(blocks.MobileNetV2_Block, [32, 2, 6], 5, c1=24, n=3)
    with pytest.raises(ValueError, match=r"layer 2 DWSConv: kernel size k must be odd .*\[c2, k=3, s=1, act=True\]"):
        check(blocks.DWSConv, [32, 4, 1], 2, c1=16)
    with pytest.raises(ValueError, match=r"c2 \(output channels\) must be a positive whole number, got 0"):
        blocks.scale_width(0, 1.0)  # was clamped to 2
    check(blocks.ShuffleNetV2_InvertedResidual, [116, 2], 1, c1=24)
    check(blocks.MobileNetV2_Block, [24, 1, 6], 4, c1=24, n=2)


# --- our blocks need a patched YOLOv5 ----------------------------------------------------------------------

def test_missing_or_unpatched_yolov5_names_the_command_that_fixes_it(monkeypatch, tree_factory):
    from yolov5_shuffle import cfg_check

    monkeypatch.setattr(cfg_check, "importable_host_root", lambda: None)
    with pytest.raises(ConfigError, match=r"run `yolov5-shuffle vendor`.*`yolov5-shuffle patch PATH`"):
        cfg_check.require_patched_host()
    root = tree_factory("7.0.14", "pypi")
    monkeypatch.setattr(cfg_check, "importable_host_root", lambda: root)
    with pytest.raises(ConfigError, match=rf"{root}: this YOLOv5 is not patched.*run `yolov5-shuffle patch {root}`"):
        cfg_check.require_patched_host()
    patcher.run(root)
    assert cfg_check.require_patched_host() == root


@pytest.mark.parametrize("command", ["init-weights", "bench"])
def test_init_weights_and_bench_refuse_an_unpatched_yolov5_on_the_import_path(command, tree_factory, tmp_path):
    """A real process whose importable YOLOv5 is not patched: one line naming the patch command, exit 2."""
    import torch
    import torchvision

    root = tree_factory("7.0.14", "pypi")
    torch.save(torchvision.models.shufflenet_v2_x0_5(weights=None).state_dict(), tmp_path / "tv.pth")
    args = {"init-weights": ["--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", tmp_path / "tv.pth",
                             "--out", tmp_path / "init.pt"],
            "bench": ["--quick", "--reps", "1", "--out", tmp_path / "bench"]}[command]
    before = snapshot(root)
    r = run_cli(command, *args, cwd=tmp_path, env={"PYTHONPATH": str(root.parent)})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert_one_line(r.stderr, command, f"this YOLOv5 is not patched, so it cannot build our blocks; run "
                                       f"`yolov5-shuffle patch {root}`")
    assert snapshot(root) == before and not (tmp_path / "init.pt").exists() and not (tmp_path / "bench").exists()


# --- needs a YOLOv5 that runs on today's packages (the vendored tree, conftest's yolo_root) -----------------

BAD_ROWS = {
    "zero-width-stem": (STEM, "[-1, 1, conv_bn_relu_maxpool, [0]]",
                        "ValueError: layer 0 conv_bn_relu_maxpool: argument c2 (output channels) must be a positive "
                        "whole number, got 0"),
    "no-block-arguments": (UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, []]",
                           f"ValueError: layer 1 ShuffleNetV2_InvertedResidual: expected arguments {UNIT_ARGS} "
                           "(1 to 5 of them), got 0"),
    "stride-1-block-changing-the-channel-count": (
        UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 1]]",
        "ValueError: layer 1 ShuffleNetV2_InvertedResidual: stride 1 keeps the channel count, so c1 must equal c2; "
        "got c1=24, c2=48"),
}


@pytest.mark.parametrize("old,new,fragment", list(BAD_ROWS.values()), ids=list(BAD_ROWS))
def test_the_patched_trees_own_parse_model_names_the_bad_layer(yolo_root, tmp_path, old, new, fragment):
    """train.py run by hand in a patched tree: its parse_model names the layer too (the registration check)."""
    bad = edited_cfg(tmp_path / "bad.yaml", old, new)
    r = python_in(yolo_root, f"from yolov5.models.yolo import Model\nModel(r'{bad}')\n", "pypi")
    assert r.returncode != 0 and fragment in r.stderr, r.stderr[-3000:]
