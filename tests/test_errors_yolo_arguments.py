"""The yolo route: ultralytics' own argument checks answer in our convention (one line, exit 2, no run folder)
instead of surfacing as internal errors."""

from __future__ import annotations

import pytest

from conftest import run_cli


def _yolo(tmp_path, *args):
    env = {"YOLO_CONFIG_DIR": str(tmp_path / "cfg"), "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}
    return run_cli("yolo", *args, env=env, cwd=tmp_path)


@pytest.mark.parametrize("value", ["big", "[64,x]"])
def test_yolo_refuses_a_non_numeric_imgsz_before_a_run_folder(tmp_path, data, value):
    r = _yolo(tmp_path, "train", "model=yolo11n-shufflenetv2.yaml", f"data={data}", "epochs=1", f"imgsz={value}",
              f"project={tmp_path / 'runs'}")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and f"imgsz={value}" in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()


def test_yolo_refuses_a_mistyped_mode_in_one_line(tmp_path):
    r = _yolo(tmp_path, "trian", "model=yolo11n-shufflenetv2.yaml")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith("yolov5-shuffle yolo: 'trian'") and len(r.stderr.strip().splitlines()) == 1
