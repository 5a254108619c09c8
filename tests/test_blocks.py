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
])
def test_bad_arguments_raise_value_error_naming_values(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_scale_width_keeps_torchvision_widths_and_stays_even():
    assert [blocks.scale_width(c, 1.0) for c in (24, 116, 232, 464, 244)] == [24, 116, 232, 464, 244]
    assert blocks.scale_width(116, 0.5) == 58 and blocks.scale_width(116, 0.25) == 30
    with pytest.raises(ValueError):
        blocks.scale_width(116, 0)


@pytest.mark.parametrize("block", [
    lambda: nn.Sequential(conv_bn_relu_maxpool(3, 24), ShuffleNetV2_InvertedResidual(24, 48, 2),
                          ShuffleNetV2_InvertedResidual(48, 48, 1)),
    lambda: nn.Sequential(MobileNetV2_Stem(3, 32), MobileNetV2_Block(32, 16, 1, 1), MobileNetV2_Block(16, 24, 2, 6),
                          MobileNetV2_Block(24, 24, 1, 6)),
    lambda: nn.Sequential(DWSConv(3, 16, 3, 2), DWSConv(16, 32, 5, 1)),
], ids=["shufflenetv2", "mobilenetv2", "dwsconv"])
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
