"""YOLOv5 7.0's own scripts in the vendored tree run on today's packages (issue 20, item 6): export.py
--include openvino converts with openvino.convert_model and detect.py runs the IR; train.py --noval trains past
its first epoch without validation; an --include whose converter fails says so in one line pointing to
``yolov5-shuffle export`` and exits non-zero."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMGSZ


def _run(root: Path, *args, timeout=900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(root).parent), "YOLOv5_AUTOINSTALL": "false"}  # offline here
    return subprocess.run([sys.executable, *map(str, args)], cwd=root, capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_export_openvino_then_detect_with_the_ir(yolo_root, trained, data, tmp_path):
    pytest.importorskip("openvino")
    w = tmp_path / "best.pt"
    shutil.copy(trained / "weights" / "best.pt", w)
    r = _run(yolo_root, "export.py", "--weights", w, "--include", "openvino", "--imgsz", IMGSZ)
    ir = tmp_path / "best_openvino_model"
    assert r.returncode == 0 and list(ir.glob("*.xml")), (r.stdout + r.stderr)[-3000:]
    img = next((data.parent / "images" / "val").glob("*.jpg"))
    r = _run(yolo_root, "detect.py", "--weights", ir, "--source", img, "--imgsz", IMGSZ, "--project", tmp_path / "d")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert list((tmp_path / "d" / "exp").glob("*.jpg"))


def test_train_noval_runs_past_the_epochs_without_validation(yolo_root, data, tmp_path):
    r = _run(yolo_root, "train.py", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data, "--weights", "",
             "--epochs", 2, "--imgsz", 64, "--batch-size", 4, "--workers", 0, "--noval", "--noplots",
             "--project", tmp_path / "runs")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert (tmp_path / "runs" / "exp" / "weights" / "last.pt").is_file()


def test_an_export_that_fails_says_so_and_points_to_ours(yolo_root, trained, tmp_path):
    w = tmp_path / "best.pt"
    shutil.copy(trained / "weights" / "best.pt", w)
    r = _run(yolo_root, "export.py", "--weights", w, "--include", "paddle", "--imgsz", IMGSZ)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "use `yolov5-shuffle export" in out, out[-3000:]
