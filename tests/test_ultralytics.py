"""Our blocks in the ``ultralytics`` package (YOLOv8, YOLO11, RT-DETR) via ``import yolov5_shuffle.ultralytics``.

Every config at every scale it has builds and runs; channels, strides and repeats are what the yaml says
(torchvision-exact at scale l); fuse folds our BatchNorms; ONNX Runtime matches PyTorch; one YOLO11 and one
RT-DETR config train an epoch on generated data, then val, predict (images, video), export to ONNX and
reload in a fresh interpreter; the ``yolov5-shuffle yolo`` command line trains.

Offline and out of the user's home: the settings dir is a temp dir (YOLO_CONFIG_DIR), YOLO_OFFLINE=1 stops
every download and DNS probe, YOLO_AUTOINSTALL=False stops pip, AMP and plots are off (the AMP check and
the label plots would fetch yolo11n.pt / Arial.ttf). About 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from copy import deepcopy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if "ultralytics" not in sys.modules:  # must precede ultralytics' import: it reads these once
    _CFG = tempfile.mkdtemp(prefix="yolov5-shuffle-ultralytics-cfg-")
    atexit.register(shutil.rmtree, _CFG, ignore_errors=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", _CFG)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")

try:
    import ultralytics  # noqa: F401
except Exception as e:  # pragma: no cover - the whole file needs it
    pytest.skip(f"ultralytics is not importable ({type(e).__name__}: {e}); pip install ultralytics to run these",
                allow_module_level=True)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import yaml  # noqa: E402

import yolov5_shuffle.ultralytics as plugin  # noqa: E402  (registers)
from yolov5_shuffle.hosts.ultralytics import config_lookup, registration  # noqa: E402
from yolov5_shuffle import blocks  # noqa: E402
from yolov5_shuffle.dataset import make_dataset  # noqa: E402

from ultralytics import RTDETR, YOLO  # noqa: E402
from ultralytics.nn import tasks  # noqa: E402
from ultralytics.utils import SETTINGS  # noqa: E402

if Path(os.environ.get("YOLO_CONFIG_DIR", "/nonexistent")).resolve() in Path(SETTINGS.file).resolve().parents:
    SETTINGS.update({"sync": False})  # only our temp settings file, never the user's

IMGSZ = 128
CONFIGS = plugin.config_names()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
       "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}
TRAIN = dict(epochs=1, imgsz=IMGSZ, batch=4, workers=0, device="cpu", plots=False, amp=False, verbose=False,
             exist_ok=True, seed=0)


def scaled_names() -> list[tuple[str, str]]:
    """(name to load, scale) for every config and every scale in its ``scales:``."""
    out = []
    for name in CONFIGS:
        scales = yaml.safe_load((plugin.config_dir() / name).read_text())["scales"]
        for s in scales:
            stem = Path(name).stem
            letter = re.sub(r"(\d+)[nslmx]", rf"\g<1>{s}", stem, count=1) if config_lookup.UNIFY.search(stem) else stem
            out.append((letter + ".yaml", s))
    return out


def build(name: str, nc: int = 80):
    cls = tasks.RTDETRDetectionModel if "rtdetr" in name else tasks.DetectionModel
    return cls(name, nc=nc, verbose=False)


def units(layer: nn.Module) -> list[nn.Module]:
    return list(layer) if isinstance(layer, nn.Sequential) else [layer]


def out_channels(layer: nn.Module) -> int:
    last = units(layer)[-1]
    convs = [m for m in last.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels * (2 if isinstance(last, blocks.ShuffleNetV2_InvertedResidual) else 1)


def fold_state(predictor) -> tuple[int, int]:
    """(convs of ours, of which still with BatchNorm) in the torch model a predictor runs."""
    backend = predictor.model  # AutoBackend: the torch model is backend.model (8.4) or model (older)
    model = getattr(getattr(backend, "backend", None), "model", None) or backend.model
    ours = [m for m in model.modules() if type(m).__module__ == blocks.__name__ and callable(getattr(m, "fuse", None))]
    return len(ours), sum(isinstance(getattr(m, "bn", None), nn.BatchNorm2d) for m in ours)


def randomise_bn(model: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)


# ---------------------------------------------------------------------------------------------- registration, names
def test_configs_present():
    assert set(CONFIGS) == {"yolov8n-shufflenetv2.yaml", "yolo11n-shufflenetv2.yaml", "yolo11n-mobilenetv2.yaml",
                            "rtdetr-shufflenetv2.yaml"}


def test_register_is_idempotent():
    pm, fuse, is_fused, check_yaml = tasks.parse_model, tasks.BaseModel.fuse, tasks.BaseModel.is_fused, tasks.check_yaml
    plugin.register()
    plugin.register()
    assert plugin.is_registered()
    assert (tasks.parse_model, tasks.BaseModel.fuse, tasks.BaseModel.is_fused, tasks.check_yaml) == \
        (pm, fuse, is_fused, check_yaml)
    assert getattr(tasks.BaseModel.fuse, registration._MARK).__name__ == "fuse"  # wrapped once, around the original
    assert not hasattr(getattr(tasks.BaseModel.fuse, registration._MARK), registration._MARK)
    for cls in plugin.BLOCKS:
        assert getattr(tasks, cls.__name__) is cls


def test_unsupported_parse_model_is_one_clear_line():
    def parse_model(d, ch, verbose=True):  # a release that restructured its loop
        ch, width, max_channels, n = [ch], 1.0, 1024, 1
        return d, ch, width, max_channels, n

    fake = type(sys)("fake_tasks")
    fake.parse_model = parse_model
    with pytest.raises(plugin.RegistrationError) as e:
        registration._build_parse_model(fake)
    msg = str(e.value)
    assert "\n" not in msg and f"ultralytics {ultralytics.__version__}" in msg and "yolov5-shuffle" in msg


def test_config_names_resolve():
    d = plugin.config_dir()
    assert plugin.resolve_config("yolo11n-shufflenetv2.yaml") == d / "yolo11n-shufflenetv2.yaml"
    assert plugin.resolve_config("yolo11s-shufflenetv2.yaml") == d / "yolo11n-shufflenetv2.yaml"
    assert plugin.resolve_config("yolov8x-shufflenetv2.yaml") == d / "yolov8n-shufflenetv2.yaml"
    assert plugin.resolve_config(str(d / "yolo11m-mobilenetv2.yaml")) == d / "yolo11n-mobilenetv2.yaml"
    assert plugin.resolve_config("rtdetr-shufflenetv2.yaml") == d / "rtdetr-shufflenetv2.yaml"
    assert plugin.resolve_config("yolo11n.yaml") is None  # ultralytics' own
    assert plugin.resolve_config("/elsewhere/yolo11n-shufflenetv2.yaml") is None  # a path that is not ours
    cfg = tasks.yaml_model_load("yolo11s-shufflenetv2.yaml")
    assert cfg["scale"] == "s" and cfg["backbone"][1][2] == "ShuffleNetV2_InvertedResidual"


# ---------------------------------------------------------------------------------------- every config, every scale
@pytest.mark.parametrize("name,scale", scaled_names(), ids=[n for n, _ in scaled_names()])
def test_every_config_builds_and_runs(name, scale):
    model = build(name, nc=4).eval()
    assert model.yaml["scale"] in (scale, "")
    seen = []
    model.model[-1].register_forward_pre_hook(lambda m, args: seen.extend(x.shape[-1] for x in args[0]))
    size = 128 if "rtdetr" in name else 64  # RT-DETR needs >= 300 anchors (its queries) before 8.4
    with torch.no_grad():
        y = model(torch.rand(1, 3, size, size))
    assert seen == [size // 8, size // 16, size // 32]  # the head gets P3/P4/P5 (strides 8/16/32)
    y = y[0] if isinstance(y, (list, tuple)) else y
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name,widths,repeats", [
    # stem, stage2, stage3, stage4 output widths; units per stage (first unit + repeated row)
    ("yolo11n-shufflenetv2.yaml", [6, 30, 58, 116], [1 + 2, 1 + 4, 1 + 2]),
    ("yolo11s-shufflenetv2.yaml", [12, 58, 116, 232], [1 + 2, 1 + 4, 1 + 2]),
    ("yolo11l-shufflenetv2.yaml", [24, 116, 232, 464], [4, 8, 4]),
    ("yolov8n-shufflenetv2.yaml", [6, 30, 58, 116], [1 + 1, 1 + 2, 1 + 1]),
    ("yolov8s-shufflenetv2.yaml", [12, 58, 116, 232], [1 + 1, 1 + 2, 1 + 1]),
    ("rtdetr-shufflenetv2.yaml", [24, 116, 232, 464], [4, 8, 4]),
])
def test_channel_inference_and_scaling(name, widths, repeats):
    layers = build(name).model
    assert [out_channels(layers[i]) for i in (0, 2, 4, 6)] == widths
    assert [len(units(layers[i])) + len(units(layers[i + 1])) for i in (1, 3, 5)] == repeats
    # the layer after the backbone was built for the width our blocks really output
    nxt = layers[7]
    first_conv = next(m for m in nxt.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == widths[-1]


@pytest.mark.parametrize("name,tv", [("yolo11l-shufflenetv2.yaml", "shufflenet_v2_x1_0"),
                                     ("yolov8l-shufflenetv2.yaml", "shufflenet_v2_x1_0"),
                                     ("rtdetr-shufflenetv2.yaml", "shufflenet_v2_x1_0"),
                                     ("yolo11l-mobilenetv2.yaml", "mobilenet_v2")])
def test_scale_l_is_torchvision_exact(name, tv):
    """Same tensors in the same order as torchvision's backbone, so ImageNet weights load."""
    torchvision = pytest.importorskip("torchvision")
    ref = getattr(torchvision.models, tv)(weights=None).state_dict()
    keep = re.compile(r"^(conv1|stage[234])\." if "shufflenet" in tv else r"^features\.(\d|1[0-7])\.")
    ref_shapes = [tuple(v.shape) for k, v in ref.items() if keep.match(k)]
    layers = build(name).model
    n = next(i for i, m in enumerate(layers) if not isinstance(units(m)[0], plugin.BLOCKS))
    ours = [tuple(v.shape) for v in nn.Sequential(*layers[:n]).state_dict().values()]
    assert ours == ref_shapes


def test_dwsconv_row_and_repeat_rule():
    """DWSConv (no config of ours uses it) scales like the others; a width-changing repeat is refused clearly."""
    def cfg(rows):
        return {"nc": 4, "scales": {"n": [0.5, 0.25, 1024]}, "scale": "n", "backbone": rows,
                "head": [[[3, 4, 5], 1, "Detect", ["nc"]]]}

    rows = [[-1, 1, "DWSConv", [64, 3, 2]], [-1, 1, "DWSConv", [128, 3, 2]], [-1, 1, "DWSConv", [256, 3, 2]],
            [-1, 3, "DWSConv", [256, 3, 1]], [-1, 1, "DWSConv", [512, 3, 2]], [-1, 1, "DWSConv", [1024, 3, 2]]]
    model = tasks.DetectionModel(cfg(rows), verbose=False)
    assert [out_channels(model.model[i]) for i in range(6)] == [16, 32, 64, 64, 128, 256]
    assert len(model.model[3]) == 2  # depth 0.5: 3 -> 2
    bad = [[-1, 1, "MobileNetV2_Stem", [32]], [-1, 3, "MobileNetV2_Block", [64, 2, 6]]]  # 3 * depth 0.5 -> 2
    with pytest.raises(ValueError, match=r"layer 1 MobileNetV2_Block: 2 repeats need c1 == c2"):
        tasks.DetectionModel(cfg(bad + rows[2:]), verbose=False)
    bad = [[-1, 1, "conv_bn_relu_maxpool", [24]], [-1, 1, "ShuffleNetV2_InvertedResidual", [116, 3]]]
    with pytest.raises(ValueError, match=r"ShuffleNetV2_InvertedResidual: stride must be one of \(1, 2\), got 3"):
        tasks.DetectionModel(cfg(bad + rows[2:]), verbose=False)


# ------------------------------------------------------------------------------------------------------- fuse, ONNX
@pytest.mark.parametrize("name", ["yolo11n-shufflenetv2.yaml", "yolo11n-mobilenetv2.yaml"])
def test_fuse_folds_our_batchnorm(name):
    model = build(name, nc=4).eval()
    randomise_bn(model)
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    with torch.no_grad():
        ref = model(x)[0]
        assert registration._unfused(model) and not model.is_fused()
        model.fuse(verbose=False)
        out = model(x)[0]
    assert not registration._unfused(model) and model.is_fused()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)


def test_onnx_export_matches_torch(tmp_path, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)  # the exporter writes next to the yaml name it was given
    model = YOLO("yolo11n-shufflenetv2.yaml")
    randomise_bn(model.model)
    ref_model = deepcopy(model.model).eval()
    f = model.export(format="onnx", imgsz=IMGSZ, device="cpu")
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    with torch.no_grad():
        ref = ref_model(x)[0].numpy()
    sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------------------- train, val, predict, export
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ul-data") / "shapes", train=8, val=4, imgsz=IMGSZ, seed=0,
                        video=True)


RELOAD = r"""
import importlib.abc, json, sys
best, images = sys.argv[1], sys.argv[2]
out = {}

class NotInstalled(importlib.abc.MetaPathFinder):  # as if yolov5-shuffle were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "yolov5_shuffle":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

from ultralytics import YOLO, RTDETR
from ultralytics.nn.tasks import torch_safe_load
Model = RTDETR if "rtdetr" in best else YOLO
sys.meta_path.insert(0, NotInstalled())
try:
    Model(best)
    out["missing"] = "loaded"
except ModuleNotFoundError as e:
    out["missing"] = e.name
sys.meta_path.pop(0)

m = Model(best)  # importable, never registered: the unpickler imports yolov5_shuffle.blocks itself
out["plain_predict"] = len(m.predict(images, imgsz=128, device="cpu", verbose=False))
import inspect
SAFE = "safe_only" in inspect.signature(torch_safe_load).parameters  # ULTRALYTICS_SAFE_LOAD, 8.4.x
try:
    torch_safe_load(best, safe_only=True) if SAFE else None
    out["plain_safe_load"] = "ok" if SAFE else "n/a"
except Exception as e:
    out["plain_safe_load"] = type(e).__name__

import torch.nn as nn
def folds(predictor):
    backend = predictor.model
    model = getattr(getattr(backend, "backend", None), "model", None) or backend.model
    ours = [m for m in model.modules() if type(m).__module__ == "yolov5_shuffle.blocks" and hasattr(m, "fuse")]
    return [len(ours), sum(isinstance(getattr(m, "bn", None), nn.BatchNorm2d) for m in ours)]
out["plain_folds"] = folds(m.predictor)

import yolov5_shuffle.ultralytics
m = Model(best)
out["predict"] = len(m.predict(images, imgsz=128, device="cpu", verbose=False))
out["folds"] = folds(m.predictor)
torch_safe_load(best, safe_only=True) if SAFE else None
out["safe_load"] = "ok" if SAFE else "n/a"
print("RESULT " + json.dumps(out))
"""


def run_flow(name: str, data: Path, tmp: Path) -> dict:
    """Train 1 epoch, then val, predict images and video, export ONNX and predict with it."""
    Model = RTDETR if "rtdetr" in name else YOLO
    model = Model(name)
    model.train(data=str(data), project=str(tmp), name="train", **TRAIN)
    best = Path(model.trainer.best)
    assert best.is_file()
    trained = Model(best)
    metrics = trained.val(data=str(data), imgsz=IMGSZ, batch=4, workers=0, device="cpu", plots=False,
                          project=str(tmp), name="val", exist_ok=True, verbose=False)
    images = data.parent / "images" / "val"
    res = trained.predict(images, imgsz=IMGSZ, device="cpu", verbose=False)
    folds = fold_state(trained.predictor)
    video = list(trained.predict(data.parent / "video.mp4", imgsz=IMGSZ, device="cpu", stream=True, vid_stride=6,
                                 save=True, project=str(tmp), name="video", exist_ok=True, verbose=False))
    onnx = trained.export(format="onnx", imgsz=IMGSZ, device="cpu")
    onnx_res = Model(onnx).predict(images, imgsz=IMGSZ, device="cpu", verbose=False)
    return {"best": best, "metrics": metrics, "predict": len(res), "folds": folds, "video": len(video),
            "video_dir": tmp / "video", "onnx": Path(onnx), "onnx_predict": len(onnx_res), "images": images}


@pytest.fixture(scope="module", params=["yolo11n-shufflenetv2.yaml", "rtdetr-shufflenetv2.yaml"])
def flow(request, data, tmp_path_factory):
    return request.param, run_flow(request.param, data, tmp_path_factory.mktemp("ul-runs"))


def test_train_val_predict_export(flow):
    name, r = flow
    assert r["metrics"].box.map50 >= 0.0  # validation ran and produced metrics
    assert r["predict"] == 4 and r["onnx_predict"] == 4
    assert r["folds"][0] > 20 and r["folds"][1] == 0  # predict ran on our convs with their BatchNorms folded
    assert r["video"] == 6  # 36 frames, every 6th
    assert any(p.suffix in (".mp4", ".avi") for p in r["video_dir"].iterdir())
    assert r["onnx"].is_file() and r["onnx"].stat().st_size > 100_000


def test_best_pt_reloads_in_a_fresh_process(flow):
    name, r = flow
    p = subprocess.run([sys.executable, "-c", RELOAD, str(r["best"]), str(r["images"])], capture_output=True,
                       text=True, env=ENV, cwd=r["best"].parent, timeout=300)
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert p.returncode == 0 and line, p.stdout[-3000:] + p.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])
    assert out["missing"] == "yolov5_shuffle"  # what ultralytics reports when the plugin is not installed
    assert out["plain_predict"] == 4  # installed but never imported: still predicts
    # unpickling imported yolov5_shuffle, whose __init__ registered it (ultralytics was loaded): from then
    # on safe loading accepts our classes and predict runs with our BatchNorms folded
    assert out["plain_safe_load"] in ("ok", "n/a")
    assert out["plain_folds"][0] > 20 and out["plain_folds"][1] == 0
    assert out["predict"] == 4 and out["folds"][0] > 20 and out["folds"][1] == 0 and out["safe_load"] in ("ok", "n/a")


# ------------------------------------------------------------------------------------------------------------- CLI
def test_main_restores_argv(capsys):
    before = list(sys.argv)
    assert plugin.main(["version"]) == 0
    assert sys.argv == before


def test_yolo_command_line_trains(data, tmp_path):
    """The documented route: `yolov5-shuffle yolo ARGS` is ultralytics' `yolo ARGS` with our blocks registered."""
    cmd = [sys.executable, "-m", "yolov5_shuffle", "yolo", "train", "model=yolov8n-shufflenetv2.yaml",
           f"data={data}", "epochs=1", f"imgsz={IMGSZ}", "batch=4", "workers=0", "device=cpu", "plots=False",
           "amp=False", "val=False", f"project={tmp_path}", "name=cli", "exist_ok=True"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert (tmp_path / "cli" / "weights" / "last.pt").is_file()
    assert "ShuffleNetV2_InvertedResidual" in p.stdout + p.stderr  # the model summary printed our layers


@pytest.mark.parametrize("cfg,tv", [("yolo11l-shufflenetv2.yaml", "shufflenet_v2_x1_0"),
                                    ("rtdetr-shufflenetv2.yaml", "shufflenet_v2_x1_0"),
                                    ("yolo11l-mobilenetv2.yaml", "mobilenet_v2")])
def test_init_weights_loads_torchvision_backbone_for_ultralytics(cfg, tv, tmp_path):
    """At the scales with torchvision's widths, `init-weights` makes a checkpoint whose backbone is the
    torchvision network's, and ultralytics' own `load()` takes every tensor of it."""
    import torchvision

    from yolov5_shuffle.weights import init_weights

    state = getattr(torchvision.models, tv)().state_dict()
    torch.save(state, tmp_path / "tv.pth")
    init_weights(cfg, tmp_path / "tv.pth", tmp_path / "init.pt")
    model = (RTDETR if cfg.startswith("rtdetr") else YOLO)(cfg)
    model.load(str(tmp_path / "init.pt"))
    first = model.model.model[0]
    conv = first.conv.conv if hasattr(first.conv, "conv") else first.conv
    key = "conv1.0.weight" if tv.startswith("shufflenet") else "features.0.0.weight"
    assert torch.equal(conv.weight, state[key])
