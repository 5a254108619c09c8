"""Deployment and pretrained-readiness: YOLOv5's export.py on each block family (ONNX Runtime and
TorchScript match PyTorch), and init-weights from a torchvision state dict that train.py accepts."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision

from conftest import IMGSZ, run_cli

# ONNX + TorchScript through YOLOv5 7.0's own export.py and attempt_load; every config's ONNX export is
# checked on YOLOv5 master and YOLOv7 in test_hosts.py, so one config per run of export.py is enough here.
FAMILIES = ["yolov5n-shufflenetv2.yaml"]

MAKE_CKPT = """
import sys, torch, torch.nn as nn
from yolov5.models.yolo import Model
torch.manual_seed(0)
m = Model(sys.argv[1], nc=4)
g = torch.Generator().manual_seed(1)
for b in m.modules():
    if isinstance(b, nn.BatchNorm2d):
        b.running_mean.copy_(torch.randn(b.num_features, generator=g) * 0.1)
        b.running_var.copy_(torch.rand(b.num_features, generator=g) + 0.5)
torch.save({'model': m}, sys.argv[2])
"""

COMPARE = """
import sys, torch, onnxruntime as ort
from yolov5.models.experimental import attempt_load
pt, onnx, ts, imgsz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
unfused = attempt_load(pt, device='cpu', fuse=False).eval()
m = attempt_load(pt, device='cpu', fuse=True).eval()
bn = sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())
x = torch.rand(1, 3, imgsz, imgsz)
with torch.no_grad():
    y = m(x)[0]
    fuse_diff = (unfused(x)[0] - y).abs().max().item()
yo = torch.from_numpy(ort.InferenceSession(onnx, providers=['CPUExecutionProvider']).run(None, {'images': x.numpy()})[0])
yt = torch.jit.load(ts)(x)[0]
print('DIFF', bn, fuse_diff, (yo - y).abs().max().item(), (yt - y).abs().max().item())
"""


@pytest.mark.parametrize("cfg", FAMILIES)
def test_export_onnx_and_torchscript_match_pytorch(yolo_root, tmp_path, cfg):  # noqa: F811
    pt = tmp_path / "m.pt"
    run = lambda *a: subprocess.run([sys.executable, "-W", "ignore", *map(str, a)], cwd=yolo_root,  # noqa: E731
                                    capture_output=True, text=True, timeout=600)
    r = run("-c", MAKE_CKPT, f"models/{cfg}", pt)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run("export.py", "--weights", pt, "--include", "onnx", "torchscript", "--imgsz", IMGSZ)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run("-c", COMPARE, pt, pt.with_suffix(".onnx"), pt.with_suffix(".torchscript"), IMGSZ)
    assert r.returncode == 0, r.stderr[-2000:]
    bn, fuse_diff, onnx_diff, ts_diff = r.stdout.split("DIFF")[1].split()
    assert int(bn) == 0, "BatchNorm left after fuse()"
    assert float(fuse_diff) <= 1e-4 and float(onnx_diff) <= 1e-4 and float(ts_diff) <= 1e-4


def test_init_weights_transfers_and_train_accepts(yolo_root, data, tmp_path):  # noqa: F811
    tv = torchvision.models.shufflenet_v2_x0_5(weights=None)
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    r = run_cli("init-weights", "--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", tmp_path / "tv.pth",
                "--out", tmp_path / "init.pt", "--nc", "4", check=True)
    # conv1 (6) + 3 stride-2 units (5 conv+BN pairs, 6 tensors each) + 13 stride-1 units (3 pairs): 330
    expected = sum(k.split(".")[0] in {"conv1", "stage2", "stage3", "stage4"} for k in tv.state_dict())
    assert expected == 330 and f"transferred {expected} tensors" in r.stdout
    model = torch.load(tmp_path / "init.pt", weights_only=False)["model"]
    assert torch.equal(model.model[1].branch1[0].conv.weight, tv.stage2[0].branch1[0].weight)
    assert torch.equal(model.model[6][2].branch2[2].bn.running_var, tv.stage4[3].branch2[6].running_var)
    r = subprocess.run([sys.executable, "train.py", "--cfg", "yolov5n-shufflenetv2.yaml", "--weights",
                        str(tmp_path / "init.pt"), "--data", str(data), "--epochs", "1", "--imgsz", str(IMGSZ),
                        "--batch-size", "4", "--workers", "0", "--noplots", "--project", str(tmp_path / "runs")],
                       cwd=yolo_root, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    transferred = [ln for ln in (r.stdout + r.stderr).splitlines() if "Transferred" in ln]
    assert transferred, "train.py did not load the init checkpoint"
    n, total = map(int, transferred[0].split("Transferred ")[1].split(" items")[0].split("/"))
    assert expected <= n <= total


@pytest.mark.slow  # long (20-30 s on 2 cores): outside CI, run with -m slow
def test_init_weights_refuses_a_mismatched_backbone(tmp_path):
    torch.save(torchvision.models.shufflenet_v2_x1_0(weights=None).state_dict(), tmp_path / "x1.pth")
    r = run_cli("init-weights", "--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", tmp_path / "x1.pth",
                "--out", tmp_path / "init.pt")
    assert r.returncode == 2
    assert "stage2.0.branch1.2.weight (58, 24, 1, 1) vs config model.1.branch1.1.conv.weight (24, 24, 1, 1)" in r.stderr
    assert not (tmp_path / "init.pt").exists()
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), tmp_path / "mb.pth")
    r = run_cli("init-weights", "--cfg", "yolov5s-mobilenetv2.yaml", "--torchvision-weights", tmp_path / "mb.pth",
                "--out", tmp_path / "mb.pt", check=True)
    assert "mobilenetv2 backbone" in r.stdout
    r = run_cli("init-weights", "--cfg", "yolov5s-dwconv.yaml", "--torchvision-weights", tmp_path / "mb.pth",
                "--out", tmp_path / "dw.pt")
    assert r.returncode == 2 and "no ShuffleNetV2/MobileNetV2 layers" in r.stderr
