"""The demo: the budget the yardstick taught (defaults), the mAP printed last, and none of the host's lines that
look like failures and are not (requirements.txt check, OpenCV at a video's end, the set-up report twice)."""

from __future__ import annotations

import pytest

from conftest import run_cli
from yolov5_shuffle import cli
from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.host_scripts import SHORT_RUN, train
from yolov5_shuffle.measure.learning import read_results

DEMO_MAP50 = 0.6  # issue 17: the demo's training must reach it within 10 minutes on 2 cores


def test_demo_defaults_are_the_budget_that_learns():
    a = cli.build_parser().parse_args(["demo"])
    assert (a.cfg, a.train, a.batch, a.epochs, a.imgsz) == ("yolov5n-shufflenetv2.yaml", 1500, 32, 20, 160)
    assert a.val >= 100 and not a.no_vendor


def test_demo_prints_the_map_last_and_no_line_that_looks_like_a_failure(yolo_root, tmp_path):
    r = run_cli("demo", "--no-vendor", "--workdir", tmp_path, "--epochs", "1", "--train", "6", "--val", "3",
                "--imgsz", "64", "--batch", "4", check=True)
    out = r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].strip().startswith("validation mAP50 ")
    assert "trained in" in r.stdout and "by the set-up" in r.stdout and "import path:" not in out
    for noise in ("requirements.txt not found", "retrieveFrame", "check failed"):
        assert noise not in out, noise
    assert (tmp_path / "detect" / "video" / "video.mp4").is_file()  # the video was read to its end


@pytest.mark.slow
def test_demo_settings_reach_the_promised_map50(yolo_root, tmp_path):
    """Outside CI (pytest -m slow; about 5 minutes on 2 free cores): the demo's training reaches mAP50 0.6."""
    a = cli.build_parser().parse_args(["demo"])
    data = make_dataset(tmp_path / "d", a.train, a.val, a.data_imgsz, seed=0)
    run = train(yolo_root, a.cfg, data, a.epochs, a.imgsz, tmp_path / "runs", batch=a.batch,
                extra=[*SHORT_RUN, "--cache", "ram"])
    assert read_results(run)["mAP50"] >= DEMO_MAP50
