"""The blocks against the papers and torchvision, and against each defect of the blog snippets."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from yolov5_shuffle import blocks
from yolov5_shuffle.blocks import (DWSConv, MobileNetV2_Block, MobileNetV2_Stem, ShuffleNetV2_InvertedResidual,
                                   conv_bn_relu_maxpool)
from yolov5_shuffle.weights import WeightsError, load_torchvision_backbone, map_backbone, torchvision_backbone

SHUFFLE_WIDTHS = {"x0_5": [24, 48, 96, 192], "x1_0": [24, 116, 232, 464], "x1_5": [24, 176, 352, 704],
                  "x2_0": [24, 244, 488, 976]}
MOBILENET_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                      (6, 320, 1, 1)]  # t, c, n, s (paper Table 2)


def randomize_bn(model: nn.Module) -> None:
    """Non-trivial BN statistics, so eval-mode comparisons exercise every BN."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def shufflenet_stack(widths, repeats=(4, 8, 4)) -> nn.Sequential:
    """Our ShuffleNetV2 the way the yaml builds it: stem, then per stage one stride-2 unit + (r-1) stride-1."""
    layers, c = [conv_bn_relu_maxpool(3, widths[0])], widths[0]
    for w, r in zip(widths[1:], repeats):
        layers += [ShuffleNetV2_InvertedResidual(c, w, 2),
                   nn.Sequential(*(ShuffleNetV2_InvertedResidual(w, w, 1) for _ in range(r - 1)))]
        c = w
    return nn.Sequential(*layers)


def mobilenet_stack() -> nn.Sequential:
    layers, c = [MobileNetV2_Stem(3, 32)], 32
    for t, w, n, s in MOBILENET_SETTINGS:
        for i in range(n):
            layers.append(MobileNetV2_Block(c, w, s if i == 0 else 1, t))
            c = w
    return nn.Sequential(*layers)


@pytest.mark.parametrize("width", list(SHUFFLE_WIDTHS))
def test_shufflenetv2_reproduces_torchvision_features(width):
    torch.manual_seed(0)
    tv = getattr(torchvision.models, f"shufflenet_v2_{width}")(weights=None).eval()
    randomize_bn(tv)
    ours = shufflenet_stack(SHUFFLE_WIDTHS[width]).eval()
    n = load_torchvision_backbone(ours, tv.state_dict())
    assert n == len(torchvision_backbone(tv.state_dict()))
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        t8 = tv.stage2(tv.maxpool(tv.conv1(x)))
        t16 = tv.stage3(t8)
        t32 = tv.stage4(t16)
        o8 = ours[2](ours[1](ours[0](x)))
        o16 = ours[4](ours[3](o8))
        o32 = ours[6](ours[5](o16))
    for o, t, stride in ((o8, t8, 8), (o16, t16, 16), (o32, t32, 32)):
        assert o.shape == t.shape and o.shape[-1] == 128 // stride
        assert (o - t).abs().max().item() <= 1e-5, f"stride {stride}"


def test_mobilenetv2_reproduces_torchvision_features():
    torch.manual_seed(0)
    tv = torchvision.models.mobilenet_v2(weights=None).eval()
    randomize_bn(tv)
    ours = mobilenet_stack().eval()
    load_torchvision_backbone(ours, tv.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        t, o = tv.features[:18](x), ours(x)
    assert o.shape == t.shape == (2, 320, 3, 3)
    assert (o - t).abs().max().item() <= 1e-5


def test_backbone_mismatch_names_first_layer_and_both_shapes():
    tv = torchvision.models.shufflenet_v2_x0_5(weights=None)
    ours = shufflenet_stack(SHUFFLE_WIDTHS["x1_0"])
    with pytest.raises(WeightsError, match=r"stage2\.0\.branch1\.2\.weight \(24, 24, 1, 1\) vs config "
                                           r"1\.branch1\.1\.conv\.weight \(58, 24, 1, 1\)"):
        load_torchvision_backbone(ours, tv.state_dict())
    short = shufflenet_stack(SHUFFLE_WIDTHS["x0_5"], repeats=(4, 8, 3))
    with pytest.raises(WeightsError, match="torchvision has more backbone tensors"):
        map_backbone(torchvision_backbone(tv.state_dict()), list(short.state_dict().items()))


# --- each defect of the blog snippets (shared/seeds/README.md) ------------------------------------------

def test_every_unit_of_every_stage_is_built():  # seed 000 never appended the repeated units
    stack = shufflenet_stack(SHUFFLE_WIDTHS["x1_0"])
    units = [sum(isinstance(m, ShuffleNetV2_InvertedResidual) for m in stack[i:i + 2].modules()) for i in (1, 3, 5)]
    assert units == [4, 8, 4]


def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_3x3_convs_in_blocks_are_depthwise():  # seed 001 used groups=1 for its "DW" conv
    for block in (ShuffleNetV2_InvertedResidual(24, 116, 2), ShuffleNetV2_InvertedResidual(116, 116, 1),
                  MobileNetV2_Block(24, 32, 2, 6), DWSConv(16, 64, 3, 2)):
        k3 = [c for c in _convs(block) if c.kernel_size == (3, 3)]
        assert k3, type(block).__name__
        for c in k3:
            assert c.groups == c.in_channels == c.out_channels, (type(block).__name__, c)


def test_dwsconv_is_depthwise_then_pointwise_for_any_channels():  # seed 002: no pointwise, dense when c1 != c2
    m = DWSConv(16, 48, 3, 2)
    dw, pw = _convs(m)
    assert (dw.groups, dw.in_channels, dw.out_channels, dw.kernel_size) == (16, 16, 16, (3, 3))
    assert (pw.groups, pw.in_channels, pw.out_channels, pw.kernel_size) == (1, 16, 48, (1, 1))
    assert m(torch.randn(1, 16, 32, 32)).shape == (1, 48, 16, 16)
    dense = 16 * 48 * 9
    assert sum(p.numel() for p in m.parameters() if p.dim() == 4) < dense / 5


def test_activations_are_present_and_right():  # seed 003 silently had none (act='ReLU' -> Identity)
    sn = ShuffleNetV2_InvertedResidual(24, 116, 2)
    assert sum(isinstance(m, nn.ReLU) for m in sn.modules()) == 3  # after each 1x1 only
    mb = MobileNetV2_Block(24, 32, 1, 6)
    acts = [type(m.act) for m in mb.conv]
    assert acts == [nn.ReLU6, nn.ReLU6, nn.Identity]  # linear bottleneck: nothing after the projection
    assert [type(m.act) for m in MobileNetV2_Block(32, 16, 1, 1).conv] == [nn.ReLU6, nn.Identity]  # no expand


def test_mobilenet_residual_only_when_shapes_allow():
    assert MobileNetV2_Block(32, 32, 1, 6).use_residual
    assert not MobileNetV2_Block(32, 32, 2, 6).use_residual
    assert not MobileNetV2_Block(24, 32, 1, 6).use_residual
    m = MobileNetV2_Block(8, 8, 1, 1).eval()
    for p in m.parameters():
        nn.init.zeros_(p)
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(m(x), x)  # zero branch -> identity through the residual


def test_shuffle_interleaves_the_two_branches():
    m = ShuffleNetV2_InvertedResidual(8, 8, 1).eval()
    x = torch.arange(8.0).reshape(1, 8, 1, 1)
    with torch.no_grad():
        y = m(x)
    assert y[0, 0::2, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]  # identity half lands on even channels
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.equal(blocks.concat_shuffle(a, b), blocks.channel_shuffle(torch.cat((a, b), 1), 2))


@pytest.mark.parametrize("shape", [(1, 24, 160, 160), (2, 5, 7, 9), (1, 3, 1, 1), (1, 4, 2, 3)])
def test_strided_max_pool_is_bit_identical(shape):
    x = torch.randn(shape) - 5  # all negative: the -inf padding must never win
    assert torch.equal(blocks.max_pool_3x3_s2(x), nn.functional.max_pool2d(x, 3, 2, 1))


def test_stem_takes_the_strided_pool_only_for_cpu_nchw_inference():
    x = torch.randn(1, 8, 33, 32)
    assert not blocks._use_strided_max_pool(x)  # grad enabled: training keeps max-pool's gradient
    with torch.no_grad():
        assert blocks._use_strided_max_pool(x)
        assert not blocks._use_strided_max_pool(x.contiguous(memory_format=torch.channels_last))
        stem = conv_bn_relu_maxpool(3, 8).eval()
        img = torch.randn(1, 3, 130, 128)
        assert torch.equal(stem(img), stem.maxpool(stem.conv(img)))


def test_exported_stem_is_a_plain_maxpool(tmp_path):
    onnx = pytest.importorskip("onnx")
    torch.onnx.export(conv_bn_relu_maxpool(3, 8).eval(), torch.randn(1, 3, 64, 64), str(tmp_path / "stem.onnx"),
                      opset_version=17, dynamo=False)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "stem.onnx")).graph.node}
    assert "MaxPool" in ops and "Max" not in ops


@pytest.mark.parametrize("make,match", [
    (lambda: ShuffleNetV2_InvertedResidual(24, 115, 2), "c2 must be even.*115"),
    (lambda: ShuffleNetV2_InvertedResidual(24, 48, 1), "c1 must equal c2; got c1=24, c2=48"),
    (lambda: ShuffleNetV2_InvertedResidual(24, 48, 3), r"stride must be one of \(1, 2\), got 3"),
    (lambda: ShuffleNetV2_InvertedResidual(0, 48, 2), "c1 must be a positive int, got 0"),
    (lambda: MobileNetV2_Block(24, 32, 2, 0.5), "expand_ratio must be a number >= 1, got 0.5"),
    (lambda: MobileNetV2_Block(24, 32, 4, 6), "stride must be one of"),
    (lambda: DWSConv(16, 32, 4, 1), "k must be odd"),
    (lambda: conv_bn_relu_maxpool(3, 24.5), "c2 must be a positive int"),
    (lambda: ShuffleNetV2_InvertedResidual(48, 48, 1, "gelu"),
     r"act must be one of \('relu', 'leakyrelu', 'hswish', 'silu'\), got 'gelu'"),
    (lambda: ShuffleNetV2_InvertedResidual(48, 48, 1, nn.ReLU()), "act must be one of .*, got ReLU()"),
    (lambda: ShuffleNetV2_InvertedResidual(48, 48, 1, "relu", 4),
     r"kernel \(depthwise kernel size\) must be one of \(3, 5, 7\), got 4"),
    (lambda: ShuffleNetV2_InvertedResidual(48, 48, 1, "relu", 5.0), "kernel .* got 5.0"),
    (lambda: ShuffleNetV2_InvertedResidual(48, 48, 1, "relu", 3, 1), "se must be true or false, got 1"),
    (lambda: ShuffleNetV2_InvertedResidual(48, 48, 1, "relu", 3, "True"), "se must be true or false, got 'True'"),
    (lambda: conv_bn_relu_maxpool(3, 24, "avgpool"),
     r"down must be one of \('maxpool', 'conv', 'dwsconv'\), got 'avgpool'"),
    (lambda: conv_bn_relu_maxpool(3, 24, "conv", "ReLU"), "act must be one of .*, got 'ReLU'"),
    (lambda: DWSConv(16, 32, 3, 1, "gelu"), "act must be true, false, one of .*, got 'gelu'"),
])
def test_bad_arguments_raise_value_error_naming_values(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_scale_width_keeps_torchvision_widths_and_stays_even():
    assert [blocks.scale_width(c, 1.0) for c in (24, 116, 232, 464, 244)] == [24, 116, 232, 464, 244]
    assert blocks.scale_width(116, 0.5) == 58 and blocks.scale_width(116, 0.25) == 30
    with pytest.raises(ValueError):
        blocks.scale_width(116, 0)


def shuffle_options(stem=(), unit=()) -> nn.Sequential:
    """A stem and a stride-2 and a stride-1 ShuffleNetV2 unit, built with these optional yaml arguments."""
    return nn.Sequential(conv_bn_relu_maxpool(3, 24, *stem), ShuffleNetV2_InvertedResidual(24, 48, 2, *unit),
                         ShuffleNetV2_InvertedResidual(48, 48, 1, *unit))


OPTIONS = {  # every block option, one at a time (id -> (stem args, unit args))
    "act-leakyrelu": ((), ("leakyrelu",)), "act-hswish": ((), ("hswish",)), "act-silu": ((), ("silu",)),
    "kernel-5": ((), ("relu", 5)), "kernel-7": ((), ("relu", 7)), "se": ((), ("relu", 3, True)),
    "stem-conv": (("conv",), ()), "stem-dwsconv": (("dwsconv",), ()), "stem-act-hswish": (("maxpool", "hswish"), ()),
    "all-at-once": (("dwsconv", "silu"), ("hswish", 5, True)),
}


@pytest.mark.parametrize("block", [
    lambda: nn.Sequential(conv_bn_relu_maxpool(3, 24), ShuffleNetV2_InvertedResidual(24, 48, 2),
                          ShuffleNetV2_InvertedResidual(48, 48, 1)),
    lambda: nn.Sequential(MobileNetV2_Stem(3, 32), MobileNetV2_Block(32, 16, 1, 1), MobileNetV2_Block(16, 24, 2, 6),
                          MobileNetV2_Block(24, 24, 1, 6)),
    lambda: nn.Sequential(DWSConv(3, 16, 3, 2), DWSConv(16, 32, 5, 1)),
    lambda: nn.Sequential(DWSConv(3, 16, 3, 2, "hswish"), DWSConv(16, 32, 5, 1, "leakyrelu")),
    *(lambda stem=stem, unit=unit: shuffle_options(stem, unit) for stem, unit in OPTIONS.values()),
], ids=["shufflenetv2", "mobilenetv2", "dwsconv", "dwsconv-act-names", *(f"shufflenetv2-{k}" for k in OPTIONS)])
def test_fuse_removes_batchnorm_and_keeps_outputs(block):
    torch.manual_seed(0)
    m = block()
    randomize_bn(m)
    m.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = m(x)
        blocks.fuse_blocks(m)
        out = m(x)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    assert (out - ref).abs().max().item() <= 1e-4


# --- the optional arguments (ablation options): each builds what it names, the defaults are the paper's ----

ACT_TYPES = {"relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "hswish": nn.Hardswish, "silu": nn.SiLU}


@pytest.mark.parametrize("act", list(ACT_TYPES))
def test_unit_act_option_is_the_activation_after_every_1x1_and_none_after_the_depthwise(act):
    for unit in (ShuffleNetV2_InvertedResidual(24, 48, 2, act), ShuffleNetV2_InvertedResidual(48, 48, 1, act)):
        convs = [m for m in unit.modules() if isinstance(m, blocks.ConvBN)]
        for m in convs:
            if m.conv.kernel_size == (1, 1):
                assert type(m.act) is ACT_TYPES[act], (act, m)
            else:
                assert isinstance(m.act, nn.Identity), (act, m)  # the depthwise convs stay linear
    assert ShuffleNetV2_InvertedResidual(48, 48, 1, "leakyrelu").branch2[0].act.negative_slope == 0.1
    assert type(conv_bn_relu_maxpool(3, 24, "maxpool", act).conv.act) is ACT_TYPES[act]
    assert type(DWSConv(8, 16, 3, 1, act).pw.act) is ACT_TYPES[act]


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_unit_kernel_option_sets_every_depthwise_kernel_and_keeps_the_resolution(kernel):
    for unit, stride in ((ShuffleNetV2_InvertedResidual(24, 48, 2, "relu", kernel), 2),
                         (ShuffleNetV2_InvertedResidual(48, 48, 1, "relu", kernel), 1)):
        dw = [c for c in _convs(unit) if c.groups > 1]
        assert len(dw) == stride and all(c.kernel_size == (kernel, kernel) and c.groups == c.in_channels for c in dw)
        assert all(c.kernel_size == (1, 1) for c in _convs(unit) if c.groups == 1)
        x = torch.randn(1, unit.branch2[0].conv.in_channels * (1 if stride == 2 else 2), 15, 16)
        assert unit(x).shape[-2:] == ((8, 8) if stride == 2 else (15, 16))


def test_unit_se_option_ends_the_right_branch_only():
    for unit in (ShuffleNetV2_InvertedResidual(24, 48, 2, "relu", 3, True),
                 ShuffleNetV2_InvertedResidual(48, 48, 1, "relu", 3, True)):
        assert isinstance(unit.branch2[-1], blocks.SE) and unit.branch2[-1].fc1.in_channels == 24
        assert sum(isinstance(m, blocks.SE) for m in unit.modules()) == 1
    assert not any(isinstance(m, blocks.SE) for m in ShuffleNetV2_InvertedResidual(48, 48, 1).modules())


def test_se_is_torchvisions_squeeze_excitation_with_a_hard_sigmoid_gate():
    torch.manual_seed(0)
    ours = blocks.SE(96)
    tv = torchvision.ops.SqueezeExcitation(96, 24, scale_activation=nn.Hardsigmoid)
    tv.load_state_dict(ours.state_dict())  # same names and shapes: fc1 96 -> 24, fc2 24 -> 96, with biases
    x = torch.randn(2, 96, 5, 7)
    assert torch.equal(ours(x), tv(x))
    assert blocks.SE(2).fc1.out_channels == 1  # fewer than 4 channels still squeezes to one


@pytest.mark.parametrize("down", ["maxpool", "conv", "dwsconv"])
def test_stem_down_option_keeps_stride_4_and_replaces_the_max_pool(down):
    stem = conv_bn_relu_maxpool(3, 32, down).eval()
    with torch.no_grad():
        assert stem(torch.randn(1, 3, 130, 128)).shape == (1, 32, 33, 32)
    assert hasattr(stem, "maxpool") == (down == "maxpool")
    if down == "conv":
        assert isinstance(stem.down, blocks.ConvBN) and stem.down.conv.stride == (2, 2)
        assert stem.down.conv.groups == 1 and stem.down.conv.kernel_size == (3, 3)
    if down == "dwsconv":
        assert isinstance(stem.down, DWSConv) and stem.down.dw.conv.groups == 32 and stem.down.dw.conv.stride == (2, 2)


def test_yaml_arguments_take_the_options_positionally_and_unscaled_by_width():
    check = blocks.check_yaml_args
    check(ShuffleNetV2_InvertedResidual, [192, 2, "hswish", 5, True], 5, c1=96, width_multiple=0.5)
    check(ShuffleNetV2_InvertedResidual, [96, 1, "silu", 7, False], 4, c1=48, n=7, width_multiple=0.5)
    check(conv_bn_relu_maxpool, [32, "dwsconv", "hswish"], 0, c1=3)
    with pytest.raises(ValueError, match=r"layer 5 ShuffleNetV2_InvertedResidual: kernel \(depthwise kernel size\) "
                                         r"must be one of \(3, 5, 7\), got 6 \(yaml arguments \[c2, stride=1, "
                                         r"act='relu', kernel=3, se=False\]: \[192, 2, 'relu', 6\]\)"):
        check(ShuffleNetV2_InvertedResidual, [192, 2, "relu", 6], 5, c1=96)
    with pytest.raises(ValueError, match=r"layer 0 conv_bn_relu_maxpool: down must be one of .*got 'pool'"):
        check(conv_bn_relu_maxpool, [24, "pool"], 0)
    with pytest.raises(ValueError, match=r"expected arguments \[c2, stride=1, act='relu', kernel=3, se=False\] "
                                         r"\(1 to 5 of them\), got 6"):
        check(ShuffleNetV2_InvertedResidual, [96, 1, "relu", 3, False, 1], 4)
