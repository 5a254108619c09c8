"""YOLOv5 master and YOLOv7 as hosts, from their source archives in ../shared/third_party, in the one
environment of today's packages: patch lifecycle, every config builds/fuses/exports, and each host's own
train, validation, detect (images and video) and export scripts on the patched, vendored tree.

Skipped with the reason when the archives are absent (users' machines).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pytest

from conftest import fixture_archive, run_cli, snapshot
from yolov5_shuffle.configs import config_names
from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.patching import patch

IMGSZ = 128


@dataclass
class HostSpec:
    archive: str
    dialect: str
    cfg_dir: str
    train_cfg: str
    val_script: str
    size_flag: tuple[str, ...]  # how its train.py takes the image size
    train_extra: tuple[str, ...] = ()
    detect_extra: tuple[str, ...] = ()
    export_args: tuple[str, ...] = ()
    exported: tuple[str, ...] = field(default=(".onnx",))


SPECS = {
    "yolov5-master": HostSpec("yolov5-master-5081342.tar.gz", "yolov5", "models", "yolov5n-shufflenetv2.yaml", "val.py",
                              ("--img", str(IMGSZ)), train_extra=("--noplots",),
                              export_args=("--include", "onnx", "--img", str(IMGSZ))),
    "yolov7": HostSpec("yolov7-a207844.tar.gz", "yolov7", "cfg/training", "yolov7-tiny-shufflenetv2.yaml", "test.py",
                       ("--img-size", str(IMGSZ), str(IMGSZ)), train_extra=("--hyp", "data/hyp.scratch.tiny.yaml"),
                       detect_extra=("--no-trace",), export_args=("--img-size", str(IMGSZ), str(IMGSZ))),
}


def offline_env(tmp: Path) -> dict:
    """No download, no auto-install, fonts and settings in a temporary folder."""
    cfg = tmp / "settings"
    cfg.mkdir(exist_ok=True)
    from yolov5_shuffle.patching.vendor import install_fonts

    env = {**os.environ, "YOLOV5_CONFIG_DIR": str(cfg), "YOLO_CONFIG_DIR": str(cfg), "YOLO_OFFLINE": "1",
           "YOLO_AUTOINSTALL": "false", "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore", "GIT_DIR": str(tmp / "no-git")}
    old = os.environ.get("YOLOV5_CONFIG_DIR")
    os.environ["YOLOV5_CONFIG_DIR"] = str(cfg)
    try:
        install_fonts()
    finally:
        os.environ.pop("YOLOV5_CONFIG_DIR") if old is None else os.environ.__setitem__("YOLOV5_CONFIG_DIR", old)
    return env


def extract(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as t:
        t.extractall(into, filter="data")
    return next(p for p in into.iterdir() if p.is_dir())


@pytest.fixture(scope="module", params=list(SPECS), ids=list(SPECS))
def host(request, tmp_path_factory):
    """(spec, patched vendored tree, environment, data yaml) per host."""
    spec = SPECS[request.param]
    archive = fixture_archive(spec.archive)
    tmp = tmp_path_factory.mktemp(request.param)
    env = offline_env(tmp)
    root = tmp / "tree"
    run_cli("vendor", "--from", archive, "--dest", root, "--no-pth", check=True, env=env)
    run_cli("patch", root, check=True)
    data = make_dataset(tmp / "data", train=8, val=4, imgsz=IMGSZ, seed=1, video=True)
    return spec, root, env, data


def host_py(root: Path, env: dict, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, *map(str, args)], cwd=root, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{args[:1]} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.parametrize("name", list(SPECS))
def test_patch_check_reapply_revert_on_the_real_tree(name, tmp_path):
    root = extract(fixture_archive(SPECS[name].archive), tmp_path)
    before = snapshot(root)
    assert run_cli("patch", root, "--check").returncode == patch.UNPATCHED
    assert "+from yolov5_shuffle.blocks import" in run_cli("patch", root, "--dry-run", check=True).stdout
    assert snapshot(root) == before
    run_cli("patch", root, check=True)
    patched = snapshot(root)
    assert all(f"{SPECS[name].cfg_dir}/{c}" in patched for c in config_names(SPECS[name].dialect))
    assert run_cli("patch", root, "--check").returncode == patch.PATCHED
    assert "nothing to patch" in run_cli("patch", root, check=True).stdout
    assert snapshot(root) == patched
    run_cli("patch", root, "--revert", check=True)
    assert snapshot(root) == before


def test_every_config_builds_fuses_and_exports(host, tmp_path):
    spec, root, env, _ = host
    cfgs = [f"{spec.cfg_dir}/{c}" for c in config_names(spec.dialect)]
    code = f"""
import torch, onnxruntime as ort
from models.yolo import Model
torch.set_grad_enabled(False)
for cfg in {cfgs!r}:
    m = Model(cfg).eval()
    x = torch.rand(1, 3, {IMGSZ}, {IMGSZ})
    y = m(x)[0]
    m.fuse()
    assert not any(isinstance(b, torch.nn.BatchNorm2d) for b in m.modules()), cfg + ': BatchNorm left after fuse'
    yf = m(x)[0]
    assert torch.allclose(y, yf, rtol=1e-3, atol=1e-3), cfg + ': fused output differs'
    f = r'{tmp_path}/m.onnx'
    torch.onnx.export(m, x, f, opset_version=17, input_names=['images'], dynamo=False)
    yo = ort.InferenceSession(f, providers=['CPUExecutionProvider']).run(None, {{'images': x.numpy()}})[0]
    assert abs(yo - yf.numpy()).max() < 1e-2 * max(1.0, abs(yf).max().item()), cfg + ': ONNX output differs'
    print('OK', cfg, tuple(y.shape))
"""
    r = host_py(root, env, "-c", code)
    assert r.stdout.count("OK ") == len(cfgs), r.stdout


@pytest.fixture(scope="module")
def trained(host, tmp_path_factory) -> Path:
    """One epoch with the host's own train.py; the run's best.pt."""
    spec, root, env, data = host
    project = tmp_path_factory.mktemp("runs")
    host_py(root, env, "train.py", "--cfg", f"{spec.cfg_dir}/{spec.train_cfg}", "--data", data, "--weights", "",
            "--epochs", 1, *spec.size_flag, "--batch-size", 4, "--workers", 0, "--device", "cpu", *spec.train_extra,
            "--project", project, "--name", "exp")
    best = project / "exp" / "weights" / "best.pt"
    assert best.is_file()
    return best


def test_validate_detect_and_export_with_the_hosts_own_scripts(host, trained, tmp_path):
    spec, root, env, data = host
    out = host_py(root, env, spec.val_script, "--weights", trained, "--data", data, *spec.size_flag[:2],
                  "--batch-size", 4, "--device", "cpu", "--project", tmp_path / "val", "--name", "exp")
    assert any(ln.strip().startswith("all") for ln in (out.stdout + out.stderr).splitlines())
    images = data.parent / "images" / "val"
    host_py(root, env, "detect.py", "--weights", trained, "--source", images, *spec.size_flag[:2], "--device", "cpu",
            *spec.detect_extra, "--project", tmp_path / "detect", "--name", "images")
    assert len(list((tmp_path / "detect" / "images").glob("*.jpg"))) == 4
    host_py(root, env, "detect.py", "--weights", trained, "--source", data.parent / "video.mp4", *spec.size_flag[:2],
            "--device", "cpu", *spec.detect_extra, "--project", tmp_path / "detect", "--name", "video")
    video = next((tmp_path / "detect" / "video").glob("video.*"))
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 24
    weights = tmp_path / "best.pt"
    shutil.copy(trained, weights)
    host_py(root, env, "export.py", "--weights", weights, *spec.export_args)
    for suffix in spec.exported:
        assert weights.with_suffix(suffix).is_file(), f"export.py wrote no {suffix}"


def test_checkpoint_reloads_in_another_patched_checkout(host, trained, tmp_path):
    spec, root, env, data = host
    other = tmp_path / "other"
    run_cli("vendor", "--from", fixture_archive(spec.archive), "--dest", other, "--no-pth", check=True, env=env)
    run_cli("patch", other, check=True)
    code = ("import torch, models.yolo as y\n"
            f"m = torch.load(r'{trained}', map_location='cpu', weights_only=False)['model']\n"
            "print('FROM', y.__file__, type(m.model[1]).__module__)\n")
    r = host_py(other, env, "-c", code)
    assert str(other) in r.stdout and "yolov5_shuffle.blocks" in r.stdout


def test_init_weights_for_yolov7(host, tmp_path):
    """`init-weights` builds a YOLOv7 config with the vendored YOLOv7 and copies the torchvision backbone in."""
    spec, root, env, _ = host
    if spec.dialect != "yolov7":
        pytest.skip("the YOLOv5 form is tested in test_export_and_weights.py")
    import torch
    import torchvision

    state = torchvision.models.shufflenet_v2_x1_0().state_dict()
    torch.save(state, tmp_path / "tv.pth")
    code = ("import torch\n"
            "from yolov5_shuffle.weights import init_weights\n"
            f"init_weights('{spec.train_cfg}', r'{tmp_path / 'tv.pth'}', r'{tmp_path / 'init.pt'}')\n"
            f"m = torch.load(r'{tmp_path / 'init.pt'}', weights_only=False)['model']\n"
            f"sd = torch.load(r'{tmp_path / 'tv.pth'}')\n"
            "print('EQUAL', torch.equal(m.model[0].conv.conv.weight, sd['conv1.0.weight']))\n")
    r = host_py(root, {**env, "YOLOV5_SHUFFLE_YOLOV7": str(root)}, "-c", code)
    assert "EQUAL True" in r.stdout and "transferred 330 tensors" in r.stdout


@pytest.mark.parametrize("name", list(SPECS))
def test_vendor_fixes_are_idempotent_and_named(name, tmp_path):
    """Every fix a host lists edits its tree the first time where needed and nothing the second time."""
    from yolov5_shuffle.hosts import find
    from yolov5_shuffle.patching.fixes import FIXES, apply_fixes

    tree = find(extract(fixture_archive(SPECS[name].archive), tmp_path))
    assert set(tree.host.fixes) <= set(FIXES) and all(FIXES[f].__doc__ for f in tree.host.fixes)
    first = apply_fixes(tree.root, tree.host.fixes)
    assert sum(first.values()) > 0, first
    after = snapshot(tree.root)
    assert sum(apply_fixes(tree.root, tree.host.fixes).values()) == 0 and snapshot(tree.root) == after
