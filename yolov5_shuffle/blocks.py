"""Lightweight backbone blocks for YOLOv5: ShuffleNetV2, MobileNetV2 and depthwise-separable convs.

This module depends on torch alone, so a patched YOLOv5 checkout imports it as
``yolov5_shuffle.blocks`` whatever its own layout: checkpoints pickle these classes under that one
stable path and load in any patched checkout.

Every block is built from :class:`ConvBN` (conv, BatchNorm, optional activation), which follows the
protocol of YOLOv5's ``Conv`` (``conv``/``bn``/``act`` and ``forward_fuse``), and :func:`fuse_blocks`
folds the BatchNorms; the patch calls it from YOLOv5's ``BaseModel.fuse()``.

The ShuffleNetV2 unit, its stem and ``DWSConv`` take optional yaml arguments for ablations (activation,
depthwise kernel, squeeze-excite, the stem's down-sampling); their defaults build exactly the modules
torchvision's networks have, and every option folds its BatchNorms and exports like the defaults.

References: Ma et al., "ShuffleNet V2", ECCV 2018, Fig. 3 (c)/(d); Sandler et al., "MobileNetV2",
CVPR 2018, Table 1-2; torchvision's ``models/shufflenetv2.py`` and ``models/mobilenetv2.py``;
Howard et al., "Searching for MobileNetV3", ICCV 2019 (h-swish, SE with a hard-sigmoid gate);
Cui et al., "PP-LCNet", 2021 (the same SE, reduction 4).
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn as nn

__all__ = (
    "ShuffleNetV2_InvertedResidual",
    "conv_bn_relu_maxpool",
    "MobileNetV2_Stem",
    "MobileNetV2_Block",
    "DWSConv",
    "SE",
    "make_act",
    "ACTIVATIONS",
    "fuse_blocks",
    "scale_width",
    "check_yaml_args",
)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_channels(name: str, **channels: int | None) -> None:
    """Each value a positive int; None means "not known yet" (a yaml check before the host counts c1)."""
    for arg, value in channels.items():
        if value is not None and (not _is_int(value) or value < 1):
            raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")


def _check_stride(name: str, stride: int, allowed=(1, 2)) -> None:
    if not _is_int(stride) or stride not in allowed:
        raise ValueError(f"{name}: stride must be one of {allowed}, got {stride!r}")


_ACTS = {
    "relu": lambda: nn.ReLU(inplace=True),  # the paper's and torchvision's
    "leakyrelu": lambda: nn.LeakyReLU(0.1, inplace=True),  # YOLOv3/v4's slope
    "hswish": lambda: nn.Hardswish(inplace=True),  # MobileNetV3's h-swish
    "silu": lambda: nn.SiLU(inplace=True),  # YOLOv5's
}
ACTIVATIONS = tuple(_ACTS)  # the names a block's ``act`` argument takes
KERNELS = (3, 5, 7)  # depthwise kernel sizes of the ShuffleNetV2 unit (ShuffleNetV2+ searches over these)


def make_act(name: str) -> nn.Module:
    """A new activation module for a block's ``act`` name (one of :data:`ACTIVATIONS`)."""
    return _ACTS[name]()


def _check_act(name: str, act) -> None:
    if not isinstance(act, str) or act not in _ACTS:
        raise ValueError(f"{name}: act must be one of {ACTIVATIONS}, got {act!r}")


def _check_kernel(name: str, kernel) -> None:
    if not _is_int(kernel) or kernel not in KERNELS:
        raise ValueError(f"{name}: kernel (depthwise kernel size) must be one of {KERNELS}, got {kernel!r}")


def _check_flag(name: str, arg: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: {arg} must be true or false, got {value!r}")


def scale_width(c2: int, width_multiple: float) -> int:
    """Scale a block's output channels by YOLOv5's ``width_multiple``, rounded up to an even number.

    YOLOv5 rounds its own layers up to a multiple of 8, which would turn ShuffleNetV2 1.0x's 116
    channels into 120 and break ImageNet weights; an even count is all a channel split needs.
    A width that is not a positive whole number is refused, not clamped.
    """
    if not isinstance(width_multiple, (int, float)) or isinstance(width_multiple, bool) or width_multiple <= 0:
        raise ValueError(f"width_multiple must be > 0, got {width_multiple!r}")
    if not _is_int(c2) or c2 < 1:
        raise ValueError(f"c2 (output channels) must be a positive whole number, got {c2!r}")
    return max(2, math.ceil(c2 * width_multiple / 2) * 2)


class ConvBN(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> activation; ``act=None`` means linear (no activation)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: nn.Module | None = None):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = act if act is not None else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))

    def forward_fuse(self, x):
        return self.act(self.conv(x))

    def fuse(self) -> None:
        """Fold ``bn`` into ``conv`` (eval statistics); the module then runs ``forward_fuse``."""
        if not hasattr(self, "bn"):
            return
        conv, bn = self.conv, self.bn
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          conv.dilation, conv.groups, bias=True, device=conv.weight.device,
                          dtype=conv.weight.dtype).requires_grad_(False)  # an fp16 model stays fp16
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        del self.bn
        self.forward = self.forward_fuse


def fuse_blocks(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm inside this module's blocks into the conv before it (YOLOv5 ``fuse()``)."""
    for m in model.modules():
        if isinstance(m, ConvBN):
            m.fuse()
    return model


def concat_shuffle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``channel_shuffle(cat([a, b], 1), groups=2)`` in one copy instead of two.

    Stacking on a new axis after the channels interleaves the halves exactly as the shuffle does
    (output channel 2i is a[i], 2i+1 is b[i]); see ``bench`` for the measured gain. Traced to
    TorchScript (pnnx -> ncnn) it emits the paper's cat + reshape-transpose-reshape instead, the pattern
    pnnx maps to ncnn's native ShuffleChannel; ONNX export keeps the stack form, which measured as fast or
    faster in ONNX Runtime, OpenVINO and int8 (cat form: int8 31 -> 41 ms at 640). Same tensor either way.
    """
    if torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
        return channel_shuffle(torch.cat((a, b), 1), 2)
    n, c, h, w = a.shape
    return torch.stack((a, b), dim=2).reshape(n, 2 * c, h, w)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: reshape (g, c/g), transpose, flatten."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class SE(nn.Module):
    """Squeeze-and-excite with a hard-sigmoid gate, as in MobileNetV3 and PP-LCNet: global average pool, 1x1 conv
    to c // 4, ReLU, 1x1 conv back to c, hard-sigmoid, times the input.

    The same modules, names and forward as ``torchvision.ops.SqueezeExcitation(c, c // 4,
    scale_activation=nn.Hardsigmoid)`` (tested); both convs have biases and no BatchNorm, so fusing leaves it
    as it is, and every runtime has the ops (GlobalAveragePool, Conv, Relu, HardSigmoid, Mul).
    """

    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        _check_channels(type(self).__name__, c=c, reduction=reduction)
        squeeze = max(1, c // reduction)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class ShuffleNetV2_InvertedResidual(nn.Module):
    """ShuffleNetV2 unit: Fig. 3(c) for stride 1, Fig. 3(d) for stride 2.
    yaml: ``[c2, stride, act, kernel, se]``; all but c2 optional (``[96, 2]``, ``[192, 1, 'hswish', 5, True]``).

    stride 1: split channels in halves; the left half is the identity, the right half goes
    1x1 conv-BN-ReLU -> 3x3 depthwise conv-BN -> 1x1 conv-BN-ReLU; concat; shuffle (2 groups).
    stride 2: no split; left: 3x3 depthwise s2 conv-BN -> 1x1 conv-BN-ReLU; right as above with the
    depthwise conv at stride 2; concat; shuffle. Output channels double, resolution halves.

    Options (defaults: the paper's unit, torchvision's modules): ``act`` the activation after every 1x1 conv
    (the depthwise convs stay linear): 'relu', 'leakyrelu' (0.1), 'hswish' or 'silu'; ``kernel`` the depthwise
    kernel size, 3, 5 or 7; ``se`` a squeeze-excite (:class:`SE`) at the end of the right branch, where
    ShuffleNetV2+ puts it.
    """

    def __init__(self, c1: int, c2: int, stride: int = 1, act: str = "relu", kernel: int = 3, se: bool = False):
        super().__init__()
        self.check(c1, c2, stride, act, kernel, se)
        self.stride = stride
        b = c2 // 2  # channels per branch
        if stride == 2:
            self.branch1 = nn.Sequential(
                ConvBN(c1, c1, kernel, stride, g=c1),  # depthwise, linear
                ConvBN(c1, b, 1, act=make_act(act)),
            )
        else:
            self.branch1 = nn.Sequential()  # identity half
        right = [
            ConvBN(c1 if stride == 2 else b, b, 1, act=make_act(act)),
            ConvBN(b, b, kernel, stride, g=b),  # depthwise, linear
            ConvBN(b, b, 1, act=make_act(act)),
        ]
        self.branch2 = nn.Sequential(*right, *([SE(b)] if se else []))

    @classmethod
    def check(cls, c1: int | None, c2: int, stride: int = 1, act: str = "relu", kernel: int = 3,
              se: bool = False) -> None:
        """Refuse arguments the block cannot be built with (c1=None: not known yet, not checked)."""
        name = cls.__name__
        _check_channels(name, c1=c1, c2=c2)
        _check_stride(name, stride)
        if c2 % 2:
            raise ValueError(f"{name}: c2 must be even (it is split in two halves), got c2={c2}")
        if stride == 1 and c1 is not None and c1 != c2:
            raise ValueError(f"{name}: stride 1 keeps the channel count, so c1 must equal c2; got c1={c1}, c2={c2}")
        _check_act(name, act)
        _check_kernel(name, kernel)
        _check_flag(name, "se", se)

    def forward(self, x):
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)
            return concat_shuffle(left, self.branch2(right))
        return concat_shuffle(self.branch1(x), self.branch2(x))


def max_pool_3x3_s2(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, 3, 2, 1)`` as two separable passes of three strided views (bit-identical output).

    PyTorch's CPU max-pool on NCHW tensors is not vectorised: in the stem, at 24 channels of 320x320,
    it took about a quarter of yolov5n-shufflenetv2's whole forward pass; the max of strided views runs
    on vectorised element-wise kernels, about 6x faster (``yolov5-shuffle bench --profile``).
    """
    ho, wo = (x.shape[-2] + 1) // 2, (x.shape[-1] + 1) // 2
    p = nn.functional.pad(x, (1, 1, 1, 1), value=float("-inf"))
    rows = torch.maximum(torch.maximum(p[:, :, 0:2 * ho:2], p[:, :, 1:2 * ho + 1:2]), p[:, :, 2:2 * ho + 2:2])
    return torch.maximum(torch.maximum(rows[..., 0:2 * wo:2], rows[..., 1:2 * wo + 1:2]), rows[..., 2:2 * wo + 2:2])


_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)  # torch < 2.3 has none


def _use_strided_max_pool(x: torch.Tensor) -> bool:
    """Eager inference on CPU in NCHW only: GPUs and channels_last have fast pooling, training keeps
    max-pool's gradient (one winner per window), traced exports (ONNX, TorchScript) get a plain MaxPool
    node, and torch.compile generates its own pooling kernel."""
    return (x.device.type == "cpu" and not torch.is_grad_enabled() and x.is_contiguous()
            and not _compiling() and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not torch.onnx.is_in_onnx_export())


STEM_DOWNSAMPLING = ("maxpool", "conv", "dwsconv")  # what halves the stem's resolution after conv1


class conv_bn_relu_maxpool(nn.Module):
    """ShuffleNetV2 stem (conv1 + maxpool): 3x3 s2 conv-BN-ReLU, then 3x3 s2 max-pool. yaml: ``[c2, down, act]``.

    Options (defaults: torchvision's conv1 + maxpool): ``down`` what replaces the max-pool, 'conv' (3x3 s2
    conv-BN-act, c2 to c2) or 'dwsconv' (:class:`DWSConv` 3x3 s2, as PP-LCNet's stem goes on); ``act`` the
    activation of conv1 and of that down-sampling conv: 'relu', 'leakyrelu', 'hswish' or 'silu'.
    """

    def __init__(self, c1: int, c2: int, down: str = "maxpool", act: str = "relu"):
        super().__init__()
        self.check(c1, c2, down, act)
        self.conv = ConvBN(c1, c2, 3, 2, act=make_act(act))
        if down == "maxpool":
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif down == "conv":
            self.down = ConvBN(c2, c2, 3, 2, act=make_act(act))
        else:
            self.down = DWSConv(c2, c2, 3, 2, act=act)

    @classmethod
    def check(cls, c1: int | None, c2: int, down: str = "maxpool", act: str = "relu") -> None:
        name = cls.__name__
        _check_channels(name, c1=c1, c2=c2)
        if not isinstance(down, str) or down not in STEM_DOWNSAMPLING:
            raise ValueError(f"{name}: down must be one of {STEM_DOWNSAMPLING}, got {down!r}")
        _check_act(name, act)

    def forward(self, x):
        x = self.conv(x)
        if "maxpool" not in self._modules:  # checkpoints of the default stem have no ``down``
            return self.down(x)
        return max_pool_3x3_s2(x) if _use_strided_max_pool(x) else self.maxpool(x)


class MobileNetV2_Stem(nn.Module):
    """MobileNetV2 stem (features[0]): 3x3 s2 conv-BN-ReLU6. yaml: ``[c2]``."""

    def __init__(self, c1: int, c2: int):
        super().__init__()
        self.check(c1, c2)
        self.conv = ConvBN(c1, c2, 3, 2, act=nn.ReLU6(inplace=True))

    @classmethod
    def check(cls, c1: int | None, c2: int) -> None:
        _check_channels(cls.__name__, c1=c1, c2=c2)

    def forward(self, x):
        return self.conv(x)


class MobileNetV2_Block(nn.Module):
    """MobileNetV2 inverted residual with linear bottleneck. yaml: ``[c2, stride, expand_ratio]``.

    1x1 expand conv-BN-ReLU6 (absent when expand_ratio is 1) -> 3x3 depthwise conv-BN-ReLU6 ->
    1x1 projection conv-BN with no activation; the input is added back when stride is 1 and c1 == c2.
    """

    def __init__(self, c1: int, c2: int, stride: int = 1, expand_ratio: float = 6):
        super().__init__()
        self.check(c1, c2, stride, expand_ratio)
        hidden = int(round(c1 * expand_ratio))
        self.use_residual = stride == 1 and c1 == c2
        layers = [] if expand_ratio == 1 else [ConvBN(c1, hidden, 1, act=nn.ReLU6(inplace=True))]
        layers += [
            ConvBN(hidden, hidden, 3, stride, g=hidden, act=nn.ReLU6(inplace=True)),  # depthwise
            ConvBN(hidden, c2, 1),  # linear bottleneck: no activation
        ]
        self.conv = nn.Sequential(*layers)

    @classmethod
    def check(cls, c1: int | None, c2: int, stride: int = 1, expand_ratio: float = 6) -> None:
        name = cls.__name__
        _check_channels(name, c1=c1, c2=c2)
        _check_stride(name, stride)
        if not isinstance(expand_ratio, (int, float)) or isinstance(expand_ratio, bool) or expand_ratio < 1:
            raise ValueError(f"{name}: expand_ratio must be a number >= 1, got {expand_ratio!r}")

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class DWSConv(nn.Module):
    """Depthwise-separable conv: kxk depthwise conv-BN-act, then 1x1 pointwise conv-BN-act.

    yaml: ``[c2, k, s, act]`` like YOLOv5's ``Conv``, whose SiLU it uses by default (``act`` true); false: no
    activation; or an activation's name: 'relu', 'leakyrelu', 'hswish', 'silu'. YOLOv5's ``DWConv`` is only the
    depthwise half (and only when c1 == c2); this is the full factorised conv.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, act: bool | str | nn.Module = True):
        super().__init__()
        self.check(c1, c2, k, s, act)
        self.dw = ConvBN(c1, c1, k, s, g=c1, act=self._act(act))
        self.pw = ConvBN(c1, c2, 1, act=self._act(act))

    @classmethod
    def check(cls, c1: int | None, c2: int, k: int = 3, s: int = 1, act: bool | str | nn.Module = True) -> None:
        name = cls.__name__
        _check_channels(name, c1=c1, c2=c2, k=k)
        _check_stride(name, s, allowed=(1, 2, 3, 4))
        if k % 2 == 0:
            raise ValueError(f"{name}: kernel size k must be odd (same padding), got k={k}")
        if not isinstance(act, (bool, nn.Module)) and act not in ACTIVATIONS:
            raise ValueError(f"{name}: act must be true, false, one of {ACTIVATIONS} or an activation module, "
                             f"got {act!r}")

    @staticmethod
    def _act(act):
        if act is True:
            return nn.SiLU(inplace=True)
        if isinstance(act, str):
            return make_act(act)
        return act if isinstance(act, nn.Module) else None

    def forward(self, x):
        return self.pw(self.dw(x))


# --- yaml rows -------------------------------------------------------------------------------------

# the one list of our yaml layers: hosts register, patch, check and transfer these
BLOCKS = (ShuffleNetV2_InvertedResidual, conv_bn_relu_maxpool, MobileNetV2_Stem, MobileNetV2_Block, DWSConv)
BLOCK_NAMES = tuple(m.__name__ for m in BLOCKS)


def yaml_signature(m: type) -> str:
    """How a block's row is written in a model yaml, e.g. ``[c2, stride=1]`` (c1 is the host's to fill)."""
    params = list(inspect.signature(m.__init__).parameters.values())[2:]  # after self, c1
    return "[" + ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params) + "]"


def check_yaml_args(m: type, args: list, layer: int | str, c1: int | None = None, n: int = 1,
                    width_multiple: float = 1.0) -> None:
    """Refuse a yaml row of one of our blocks that cannot be built, naming the layer, the block and the argument.

    ``args`` are the yaml's (``[c2, ...]``, before the host inserts c1); ``c1`` the input channels when the
    host knows them (its parse_model), else None; ``n`` the repeats after the depth gain. The patched
    ``parse_model`` calls this before it builds the layer; ``yolov5_shuffle.cfg_check`` calls it with c1=None
    before any host runs. Raises ValueError(``layer 3 ShuffleNetV2_InvertedResidual: ...``).
    """
    name = getattr(m, "__name__", str(m))
    where = f"layer {layer} {name}"
    sig = yaml_signature(m)
    params = list(inspect.signature(m.__init__).parameters.values())[2:]
    need = sum(p.default is p.empty for p in params)
    if not isinstance(args, (list, tuple)) or not need <= len(args) <= len(params):
        count = f"{need}" if need == len(params) else f"{need} to {len(params)}"
        got = f"{len(args)}: {list(args)!r}" if isinstance(args, (list, tuple)) else repr(args)
        raise ValueError(f"{where}: expected arguments {sig} ({count} of them), got {got}")
    c2 = args[0]
    if not _is_int(c2) or c2 < 1:
        raise ValueError(f"{where}: argument c2 (output channels) must be a positive whole number, got {c2!r}")
    try:
        c2 = scale_width(c2, width_multiple)
        m.check(c1, c2, *args[1:])
    except ValueError as e:
        why = str(e).removeprefix(name + ": ")
        raise ValueError(f"{where}: {why} (yaml arguments {sig}: {list(args)!r})") from None
    if _is_int(n) and n > 1 and c1 is not None and c1 != c2:
        raise ValueError(f"{where}: {n} repeats need c1 == c2 (each copy gets the same arguments), got c1={c1}, "
                         f"c2={c2}; put the unit that changes the width on its own row")
