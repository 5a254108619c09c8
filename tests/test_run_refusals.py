"""Runs refuse what would fail or lose data, in one line and exit 2, before any work starts; and a run leaves
the environment as it found it (issue 20, items 1, 3 and 4, for train/detect/learn/init-weights/vendor/yolo)."""

from __future__ import annotations

import hashlib
import os
import sysconfig
from pathlib import Path

import pytest
import torch

from conftest import run_cli


def _one_line_exit_2(r, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr[-2000:]


def test_init_weights_refuses_an_out_that_is_its_input(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    tv = tmp_path / "tv.pth"
    torch.save(torchvision.models.shufflenet_v2_x0_5(weights=None).state_dict(), tv)
    before = hashlib.sha256(tv.read_bytes()).hexdigest()
    r = run_cli("init-weights", "--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", tv, "--out", tv)
    _one_line_exit_2(r, "is the input")
    assert hashlib.sha256(tv.read_bytes()).hexdigest() == before


def test_train_refuses_truncated_weights_and_leaves_no_run_folder(trained, data, tmp_path):
    raw = (trained / "weights" / "best.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(raw[:len(raw) // 3])
    r = run_cli("train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data, "--weights", cut, "--epochs", 1,
                "--project", tmp_path / "runs")
    _one_line_exit_2(r, "not a PyTorch checkpoint")
    assert not (tmp_path / "runs").exists()


def _ultralytics_like(path: Path) -> Path:
    """A file whose pickle names ultralytics' model classes, as an ultralytics checkpoint does."""
    tasks = pytest.importorskip("ultralytics.nn.tasks")
    model = tasks.BaseModel.__new__(tasks.BaseModel)
    torch.nn.Module.__init__(model)
    torch.save({"model": model}, path)
    return path


@pytest.mark.parametrize("kind", ["junk", "truncated", "ultralytics"])
def test_detect_refuses_a_pt_detect_py_cannot_run_before_it_starts(kind, trained, data, tmp_path):
    w = tmp_path / f"{kind}.pt"
    if kind == "junk":
        w.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        raw = (trained / "weights" / "best.pt").read_bytes()
        w.write_bytes(raw[:len(raw) // 2])
    else:
        _ultralytics_like(w)
    r = run_cli("detect", "--weights", w, "--source", data.parent / "images" / "val", "--project", tmp_path / "d")
    _one_line_exit_2(r, {"ultralytics": "yolov5-shuffle yolo predict model="}.get(kind, "not a PyTorch checkpoint"))
    assert "$ " not in r.stdout and not (tmp_path / "d").exists()


def test_learn_refuses_an_unknown_config_before_generating_data(tmp_path):
    r = run_cli("learn", "--cfgs", "yolov5n-shufflenetv3.yaml", "--workdir", tmp_path / "w", "--epochs", 1)
    _one_line_exit_2(r, "yolov5n-shufflenetv3.yaml")
    assert not (tmp_path / "w").exists()


def test_learn_refuses_an_out_that_is_a_file_before_training(tmp_path):
    (tmp_path / "table").write_text("mine")
    r = run_cli("learn", "--cfgs", "yolov5n.yaml", "--workdir", tmp_path / "w", "--out", tmp_path / "table")
    _one_line_exit_2(r, "--out")
    assert not (tmp_path / "w").exists() and (tmp_path / "table").read_text() == "mine"


def test_vendor_checks_the_sha256_of_a_from_file(tmp_path):
    from yolov5_shuffle.patching.vendor import fetch_wheel

    wheel = fetch_wheel("7.0.14")
    r = run_cli("vendor", "--from", wheel, "--sha256", "0" * 64, "--dest", tmp_path / "v" / "yolov5", "--no-pth")
    _one_line_exit_2(r, "does not match --sha256")
    assert not (tmp_path / "v").exists()


def test_a_wrong_sha256_keeps_the_good_cached_wheel(tmp_path):
    from yolov5_shuffle.patching.vendor import fetch_wheel

    wheel = fetch_wheel("7.0.14")
    r = run_cli("vendor", "--sha256", "0" * 64, "--dest", tmp_path / "v" / "yolov5", "--no-pth")
    _one_line_exit_2(r, "nothing was changed")
    assert wheel.is_file() and fetch_wheel("7.0.14") == wheel


def test_detect_does_not_rewrite_the_environments_import_path(trained, data, tmp_path):
    pth = Path(sysconfig.get_paths()["purelib"]) / "yolov5-shuffle-vendor.pth"
    before = pth.read_bytes() if pth.exists() else None
    stamp = pth.stat().st_mtime_ns if pth.exists() else None
    run_cli("detect", "--weights", trained / "weights" / "best.pt", "--source", next((data.parent / "images" / "val")
            .glob("*.jpg")), "--imgsz", 128, "--project", tmp_path / "d", check=True)
    assert (pth.read_bytes() if pth.exists() else None) == before
    assert (pth.stat().st_mtime_ns if pth.exists() else None) == stamp


@pytest.mark.parametrize("args,needle", [
    (["train", "modl=yolo11n-shufflenetv2.yaml"], "'modl' is not a valid YOLO argument"),
    (["train", "model=yolo11n-shufflenetv2.yaml", "data=missing.yaml", "epochs=1"], "data=missing.yaml: no such file"),
    (["train", "model=yolo11n-shufflenetv2.yaml", "epochs=-1"], "epochs=-1: must be a whole number >= 1"),
])
def test_the_yolo_route_refuses_bad_arguments_in_one_line(args, needle, tmp_path):
    pytest.importorskip("ultralytics")
    r = run_cli("yolo", *args, cwd=tmp_path)
    _one_line_exit_2(r, needle)
    assert not list(tmp_path.rglob("args.yaml"))


def test_the_yolo_route_names_a_bad_block_row(tmp_path):
    pytest.importorskip("ultralytics")
    from yolov5_shuffle.hosts.ultralytics.config_lookup import config_dir

    text = (config_dir() / "yolo11n-shufflenetv2.yaml").read_text()
    bad = tmp_path / "yolo11n-bad.yaml"
    bad.write_text(text.replace("ShuffleNetV2_InvertedResidual, [116, 2]", "ShuffleNetV2_InvertedResidual, [116, 5]", 1))
    assert bad.read_text() != text
    r = run_cli("yolo", "predict", f"model={bad}", "source=none.jpg", cwd=tmp_path)
    _one_line_exit_2(r, "ShuffleNetV2_InvertedResidual")


def test_the_yolo_route_refuses_a_yolov5_route_checkpoint(trained, tmp_path):
    pytest.importorskip("ultralytics")
    r = run_cli("yolo", "predict", f"model={trained / 'weights' / 'best.pt'}", "source=x.jpg", cwd=tmp_path)
    _one_line_exit_2(r, "yolov5-shuffle detect --weights")
