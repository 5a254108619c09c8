"""Folding BatchNorm keeps the model's dtype and device: an fp16 (or float64) model comes out all fp16 (float64),
as torch's own ``fuse_conv_bn_weights`` does, not with default-dtype convolutions mixed in."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from yolov5_shuffle import blocks


def _model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(blocks.conv_bn_relu_maxpool(3, 24), blocks.ShuffleNetV2_InvertedResidual(24, 48, 2),
                      blocks.MobileNetV2_Block(48, 48, 1, 6), blocks.DWSConv(48, 32, 3, 1))
    for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):  # statistics that make folding matter
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    return m.eval()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64], ids=["fp16", "float64"])
def test_fusing_keeps_the_models_dtype(dtype):
    m = _model().to(dtype)
    blocks.fuse_blocks(m)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    assert {p.dtype for p in m.parameters()} == {dtype}


def test_a_float64_model_fused_gives_the_same_outputs_in_float64():
    m = _model().double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        ref = m(x)
        blocks.fuse_blocks(m)
        out = m(x)
    assert out.dtype == torch.float64 and (out - ref).abs().max().item() <= 1e-10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fusing_keeps_the_models_device():
    m = _model().half().cuda()
    blocks.fuse_blocks(m)
    assert {(p.device.type, p.dtype) for p in m.parameters()} == {("cuda", torch.float16)}
