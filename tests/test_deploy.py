"""Deployment runtimes (yolov5_shuffle.deploy.runtimes) on a tiny model made of our blocks and a YOLOv5-style
Detect head: export, outputs against torch, ncnn's native ShuffleChannel, and int8 that still detects.
The float runtimes also get the tiny model built with every block option (activations, 5x5 and 7x7
depthwise kernels, squeeze-excite, the stems' down-sampling convs): each must export and match torch.

Each runtime whose package is missing is skipped with the reason. 128 px and a tiny model keep the file
to about two minutes on 2 cores (more with onnx2tf installed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from yolov5_shuffle.blocks import ShuffleNetV2_InvertedResidual, conv_bn_relu_maxpool, fuse_blocks
from yolov5_shuffle.deploy import runtimes
from yolov5_shuffle.deploy.check import check_against_torch, load_images, sample_image, torch_predict
from yolov5_shuffle.deploy.runtimes.ncnn import count_ops
from yolov5_shuffle.deploy.runtimes.onnxruntime_int8 import head_nodes

IMGSZ = 128
FP32 = ("onnxruntime", "openvino", "ncnn", "tflite_fp32", "tflite_fp16")


class TinyDetect(nn.Module):
    """YOLOv5's Detect in export form: per level a 1x1 conv, sigmoid, xy/wh decoded to pixels with grid and
    anchors, concatenated with the 0..1 scores into (1, N, 5 + nc); returns a tuple like Detect."""

    def __init__(self, chs, nc=4, strides=(8, 16, 32)):
        super().__init__()
        self.nc, self.no, self.na, self.strides = nc, nc + 5, 3, strides
        self.m = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in chs)
        a = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]])
        self.register_buffer("anchors", a.float().view(3, 3, 2))

    def forward(self, xs):
        z = []
        for i, x in enumerate(xs):
            x = self.m[i](x)
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2)
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=x.dtype), torch.arange(nx, dtype=x.dtype), indexing="ij")
            grid = torch.stack((xv, yv), 2).expand(1, self.na, ny, nx, 2) - 0.5
            anchor_grid = self.anchors[i].view(1, self.na, 1, 1, 2).expand(1, self.na, ny, nx, 2)
            xy, wh, conf = x.sigmoid().split((2, 2, self.nc + 1), 4)
            xy = (xy * 2 + grid) * self.strides[i]
            wh = (wh * 2) ** 2 * anchor_grid
            z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return (torch.cat(z, 1),)


class TinyShuffleYOLO(nn.Module):
    """ShuffleNetV2 stem and three stages (P3, P4, P5 at strides 8, 16, 32) feeding TinyDetect. ``stem``: the
    stem's optional yaml arguments (down, act); ``units``: per stage, the units' (act, kernel, se)."""

    def __init__(self, widths=(24, 48, 96, 192), repeats=(2, 3, 2), nc=4, stem=(), units=((), (), ())):
        super().__init__()
        self.stem = conv_bn_relu_maxpool(3, widths[0], *stem)
        self.stages = nn.ModuleList(
            nn.Sequential(ShuffleNetV2_InvertedResidual(widths[i], widths[i + 1], 2, *units[i]),
                          *[ShuffleNetV2_InvertedResidual(widths[i + 1], widths[i + 1], 1, *units[i])
                            for _ in range(repeats[i] - 1)])
            for i in range(3))
        self.detect = TinyDetect(widths[1:], nc)

    def forward(self, x):
        x, feats = self.stem(x), []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.detect(feats)


def fused(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics (so fusing is exercised), then eval + fuse like YOLOv5's fuse()."""
    g = torch.Generator().manual_seed(seed)
    for bn in model.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            bn.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            bn.bias.data.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
    return fuse_blocks(model.eval())


# The tiny model with every block option, spread over two models (a model has one stem): each activation,
# kernel size, squeeze-excite in stride-1 and stride-2 units, and both down-sampling convs of the stem.
VARIANTS = {
    "defaults": {},
    "options-a": {"stem": ("conv", "silu"),
                  "units": (("leakyrelu", 5, True), ("hswish", 7, False), ("silu", 3, True))},
    "options-b": {"stem": ("dwsconv", "hswish"),
                  "units": (("silu", 3, False), ("relu", 5, True), ("hswish", 5, True))},
}


@pytest.fixture(scope="module")
def models():
    """Each variant built once, with non-trivial BatchNorms, and fused (variant -> model)."""
    cache = {}

    def get(variant):
        if variant not in cache:
            torch.manual_seed(0)
            cache[variant] = fused(TinyShuffleYOLO(**VARIANTS[variant]))
        return cache[variant]

    return get


@pytest.fixture(scope="module")
def model(models):
    return models("defaults")


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """Export once per (runtime, variant) for the whole module (-> path)."""
    out = tmp_path_factory.mktemp("deploy")
    cache = {}

    def get(runtime, variant="defaults"):
        ok, why = runtimes.available(runtime)
        if not ok:
            pytest.skip(f"{runtime} not available: {why}")
        if (runtime, variant) not in cache:
            calib = np.concatenate([sample_image(IMGSZ, seed) for seed in range(1, 17)])
            cache[runtime, variant] = runtimes.by_name(runtime).export(models(variant), IMGSZ, out / variant, calib,
                                                                       name="tiny")
        return cache[runtime, variant]

    return get


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("runtime", FP32)
def test_export_matches_torch(models, exported, runtime, variant):
    model = models(variant)
    path = exported(runtime, variant)
    assert path.exists()
    r = check_against_torch(model, runtimes.by_name(runtime), path, IMGSZ)
    assert r["ok"], f"{runtime}: {r}"
    assert r["rel"] <= runtimes.by_name(runtime).tolerance
    # and on a second, random input
    x = np.random.default_rng(1).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    r2 = check_against_torch(model, runtimes.by_name(runtime), path, IMGSZ, x=x)
    assert r2["ok"], f"{runtime} (random input): {r2}"


def test_prediction_shape_and_threads(model, exported):
    path = exported("onnxruntime")
    x = sample_image(IMGSZ)
    n = 3 * sum((IMGSZ // s) ** 2 for s in (8, 16, 32))
    for threads in (1, 2):
        y = runtimes.by_name("onnxruntime").load(path, threads)(x)
        assert y.shape == (1, n, 9)


@pytest.mark.parametrize("variant", VARIANTS)
def test_ncnn_shuffle_channel_native(exported, variant):
    """Every ShuffleNetV2 unit's shuffle must be ncnn's own ShuffleChannel op (one per unit), whatever its options."""
    ops = count_ops(exported("ncnn", variant))
    units = sum((2, 3, 2))  # TinyShuffleYOLO's repeats
    assert ops.get("ShuffleChannel", 0) == units, ops
    assert not [op for op in ops if "." in op or "::" in op], ops


def test_ncnn_maps_cat_view_transpose_to_shuffle_channel(tmp_path):
    """The exported form the blocks should emit: pnnx turns it into ShuffleChannel, and ncnn's result is exact."""
    ok, why = runtimes.available("ncnn")
    if not ok:
        pytest.skip(why)

    class Unit(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(3, 8, 3, 2, 1)

        def forward(self, x):
            a, b = self.a(x), self.b(x)
            n, c, h, w = a.shape
            return torch.cat((a, b), 1).view(n, 2, c, h, w).transpose(1, 2).reshape(n, 2 * c, h, w)

    torch.manual_seed(0)
    m = Unit().eval()
    ncnn = runtimes.by_name("ncnn")
    f = ncnn.export(m, 32, tmp_path)
    assert count_ops(f)["ShuffleChannel"] == 1
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    y = ncnn.load(f, 1)(x)
    with torch.no_grad():
        ref = torch.stack((m.a(torch.from_numpy(x)), m.b(torch.from_numpy(x))), 2).reshape(1, 16, 16, 16).numpy()
    np.testing.assert_allclose(y.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)


def _boxes_iou(a, b):
    a1, a2 = a[:, None, :2] - a[:, None, 2:4] / 2, a[:, None, :2] + a[:, None, 2:4] / 2
    b1, b2 = b[None, :, :2] - b[None, :, 2:4] / 2, b[None, :, :2] + b[None, :, 2:4] / 2
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(-1)
    return inter / (a[:, None, 2:4].prod(-1) + b[None, :, 2:4].prod(-1) - inter)


def test_int8_keeps_scores_and_detections(model, exported):
    path = exported("onnxruntime_int8")
    import onnx

    graph = onnx.load(str(path)).graph
    assert sum(n.op_type == "DequantizeLinear" for n in graph.node) > 20, "the convs were not quantised"
    assert check_against_torch(model, runtimes.by_name("onnxruntime_int8"), path, IMGSZ)["ok"]
    for seed in (100, 101):  # structured images not used for calibration
        x = sample_image(IMGSZ, seed)
        ref = torch_predict(model, x)[0]
        y = runtimes.by_name("onnxruntime_int8").load(path, 2)(x)[0]
        assert (y[:, 4] > 0).mean() > 0.99, "int8 scores collapsed to 0 (the decode was quantised)"
        conf_ref, conf_y = ref[:, 4] * ref[:, 5:].max(1), y[:, 4] * y[:, 5:].max(1)
        assert np.corrcoef(conf_ref, conf_y)[0, 1] > 0.9
        top_ref, top_y = np.argsort(-conf_ref)[:10], np.argsort(-conf_y)[:20]
        matched = (_boxes_iou(ref[top_ref, :4], y[top_y, :4]).max(1) > 0.5).mean()
        assert matched >= 0.7, f"only {matched:.0%} of fp32's top-10 boxes among int8's top-20"


def test_int8_needs_calibration_images(model, tmp_path):
    ok, why = runtimes.available("onnxruntime_int8")
    if not ok:
        pytest.skip(why)
    with pytest.raises(ValueError, match="calib"):
        runtimes.by_name("onnxruntime_int8").export(model, IMGSZ, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_head_nodes_are_the_decode_only():
    """The nodes int8 leaves in float are those after the last convs, none of the backbone's."""
    import onnx
    from onnx import TensorProto, helper

    def node(op, ins, outs):
        return helper.make_node(op, ins, outs, name=outs[0])

    nodes = [node("Conv", ["x", "w"], ["c1"]), node("Relu", ["c1"], ["r1"]), node("Conv", ["r1", "w"], ["c2"]),
             node("Sigmoid", ["c2"], ["s"]), node("Mul", ["s", "k"], ["m"]), node("Concat", ["m", "s"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    assert head_nodes(helper.make_model(g)) == ["s", "m", "y"]
    assert onnx  # imported for the helpers


def test_export_is_atomic(model, tmp_path, monkeypatch):
    ok, why = runtimes.available("onnxruntime")
    if not ok:
        pytest.skip(why)
    rt = runtimes.by_name("onnxruntime")
    good = rt.export(model, IMGSZ, tmp_path, name="m")
    before = good.read_bytes()

    def broken(model, imgsz, tmp, calib, name):
        (tmp / f"{name}.onnx").write_bytes(b"half")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(rt, "build", broken)
    with pytest.raises(RuntimeError, match="crashed"):
        rt.export(model, IMGSZ, tmp_path, name="m")
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    assert good.read_bytes() == before


def test_available_reports_reasons():
    ok, why = runtimes.available("tensorrt-on-a-toaster")
    assert not ok and "unknown runtime" in why
    for rt in runtimes.all_runtimes():
        ok, why = rt.available()
        assert isinstance(ok, bool) and why
        if not ok and rt.exportable:  # PyTorch's own modes lack a device or a compiler, not a package
            assert "pip install" in why, why  # says which package it needs


def test_calibration_images_from_a_folder(tmp_path):
    from PIL import Image

    for i, size in enumerate([(200, 100), (50, 80), (64, 64)]):
        Image.new("RGB", size, (255, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    a = load_images(tmp_path, 64)
    assert a.shape == (3, 3, 64, 64) and a.dtype == np.float32
    assert np.allclose(a[0, :, 32, 32], [1, 0, 0])  # the image, letterboxed ...
    assert np.allclose(a[0, :, 0, 32], 114 / 255)  # ... with YOLOv5's grey above and below
    with pytest.raises(ValueError):
        load_images(np.zeros((2, 3, 32, 32), np.float32), 64)
