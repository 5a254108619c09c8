"""End to end in the patched, vendored YOLOv5 (short CI form): train, resume, val, detect, export, demo.

Tiny data (a few 128 px images) and 1-2 epochs: this proves the pipeline and finite losses, not
accuracy; the accuracy floor is the slow test at the end (pytest -m slow).
"""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import pytest

from conftest import IMGSZ, run_cli
from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.measure.learning import read_results
from yolov5_shuffle.host_scripts import SHORT_RUN, train

S_CONFIGS = ["yolov5s-shufflenetv2.yaml", "yolov5s-mobilenetv2.yaml", "yolov5s-dwconv.yaml", "yolov5-lite-s.yaml"]


def _losses_finite(run: Path) -> dict:
    r = read_results(run)
    assert all(math.isfinite(v) and v > 0 for v in r["final_losses"].values()), r
    assert 0 <= r["mAP50"] <= 1 and 0 <= r["mAP50-95"] <= 1
    return r


def _py(root, *args, timeout=600):
    r = subprocess.run([sys.executable, *map(str, args)], cwd=root, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.parametrize("cfg", S_CONFIGS[1:3])  # yolov5-lite-s is made of the ShuffleNetV2 units trained above
def test_each_s_config_trains(yolo_root, data, tmp_path, cfg):
    run = train(yolo_root, cfg, data, 1, IMGSZ, tmp_path, batch=4, extra=["--noplots"], capture=True)
    assert (run / "weights" / "best.pt").is_file() and (run / "weights" / "last.pt").is_file()
    assert _losses_finite(run)["epochs"] == 1


def test_shufflenet_run_writes_weights_and_finite_losses(trained):
    assert (trained / "weights" / "best.pt").is_file() and (trained / "weights" / "last.pt").is_file()
    assert _losses_finite(trained)["epochs"] == 2


@pytest.mark.slow  # long (20-30 s on 2 cores): outside CI, run with -m slow
def test_resume_continues_an_interrupted_run(yolo_root, data, tmp_path):
    """What resume promises: it starts at the checkpoint's epoch + 1, runs to the last epoch, and no epoch is
    missing. results.csv gets epoch k's row before last.pt gets epoch k, so a kill between the two leaves one
    row more than the checkpoint holds and resume repeats that epoch; the expected rows therefore come from the
    checkpoint, not from a fixed list. The run is frozen (SIGSTOP) and killed only while last.pt is a whole
    file, so the kill never lands inside torch.save (a torn last.pt could not be resumed at all)."""
    cmd = [sys.executable, "train.py", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data, "--weights", "",
           "--epochs", EPOCHS, "--imgsz", IMGSZ, "--batch-size", "4", "--workers", "0", "--noplots",
           "--project", tmp_path, "--name", "exp"]
    p = subprocess.Popen(list(map(str, cmd)), cwd=yolo_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    results, last = tmp_path / "exp" / "results.csv", tmp_path / "exp" / "weights" / "last.pt"
    deadline, frozen = time.time() + 300, False
    try:
        while time.time() < deadline and p.poll() is None:
            if _epochs(results) and last.is_file():
                os.killpg(p.pid, signal.SIGSTOP)
                if _whole_zip(last):
                    frozen = True
                    break
                os.killpg(p.pid, signal.SIGCONT)  # caught inside torch.save: let it finish
            time.sleep(0.05)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert frozen, "training ended (or wrote no last.pt in 300 s) before it could be interrupted"
    before = _epochs(results)
    assert before == list(range(len(before))) and len(before) < EPOCHS - 1, before  # interrupted early on
    ckpt = int(_py(yolo_root, "-c", "import sys, torch; print(torch.load(sys.argv[1], map_location='cpu', "
                                    "weights_only=False)['epoch'])", last).stdout.split()[-1])
    assert ckpt in (before[-1] - 1, before[-1]), (ckpt, before)
    _py(yolo_root, "train.py", "--resume", last)
    after = _epochs(results)
    assert after[:len(before)] == before  # history kept
    assert after[len(before):] == list(range(ckpt + 1, EPOCHS))  # continued from the checkpoint, not restarted
    assert set(after) == set(range(EPOCHS)) and after[-1] == EPOCHS - 1  # no epoch missing, ran to the end


EPOCHS = 8


def _epochs(results: Path) -> list[int]:
    """The epoch column of YOLOv5's results.csv (empty when there is none yet)."""
    if not results.is_file():
        return []
    epochs = []
    for r in csv.DictReader(results.open()):
        try:
            epochs.append(int(float(r[next(iter(r))])))
        except (TypeError, ValueError):  # a row being written while the run goes on
            break
    return epochs


def _whole_zip(f: Path) -> bool:
    """f is a complete zip archive (torch.save's format): its directory is there and every member reads back."""
    try:
        with zipfile.ZipFile(f) as z:
            return z.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def test_val_reports_map(yolo_root, data, trained):
    r = _py(yolo_root, "val.py", "--weights", trained / "weights" / "best.pt", "--data", data, "--imgsz", IMGSZ,
            "--project", trained.parent, "--name", "val")
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip().startswith("all"))
    p, rcl, map50, map5095 = map(float, line.split()[3:7])
    assert 0 <= map5095 <= map50 <= 1


def _saved(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.glob(f"*{suffix}"))


def test_detect_on_folder_single_image_and_video(yolo_root, data, trained, tmp_path):
    best = trained / "weights" / "best.pt"
    val = data.parent / "images" / "val"
    r = run_cli("detect", "--weights", best, "--source", val, "--imgsz", IMGSZ, "--project", tmp_path, "--name", "dir",
                check=True)
    out = Path(r.stdout.strip().splitlines()[-1].split("results: ")[1])
    assert len(_saved(out, ".jpg")) == 4
    one = next(val.glob("*.jpg"))
    run_cli("detect", "--weights", best, "--source", one, "--imgsz", IMGSZ, "--project", tmp_path, "--name", "one",
            check=True)
    assert [p.name for p in _saved(tmp_path / "one", ".jpg")] == [one.name]
    run_cli("detect", "--weights", best, "--source", data.parent / "video.mp4", "--imgsz", IMGSZ, "--project",
            tmp_path, "--name", "vid", check=True)
    cap = cv2.VideoCapture(str(tmp_path / "vid" / "video.mp4"))
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 24


def test_export_onnx_torchscript_and_detect_with_onnx(yolo_root, data, trained, tmp_path):
    best = trained / "weights" / "best.pt"
    _py(yolo_root, "export.py", "--weights", best, "--include", "onnx", "torchscript", "--imgsz", IMGSZ)
    onnx, ts = best.with_suffix(".onnx"), best.with_suffix(".torchscript")
    assert onnx.is_file() and ts.is_file()
    _py(yolo_root, "detect.py", "--weights", onnx, "--source", data.parent / "images" / "val", "--imgsz", IMGSZ,
        "--project", tmp_path, "--name", "onnx")
    assert len(_saved(tmp_path / "onnx", ".jpg")) == 4


# --- bad input: a clear message, nothing lost ------------------------------------------------------

def test_corrupt_image_is_skipped_with_a_warning(trained, data, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for p in list((data.parent / "images" / "val").glob("*.jpg"))[:2]:
        (src / p.name).write_bytes(p.read_bytes())
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    r = run_cli("detect", "--weights", trained / "weights" / "best.pt", "--source", src, "--imgsz", IMGSZ,
                "--project", tmp_path, "--name", "out", check=True)
    assert "broken.jpg: not a readable image; skipped" in r.stdout
    assert len(_saved(tmp_path / "out", ".jpg")) == 2


def test_missing_video_and_missing_weights_are_named(trained, tmp_path):
    r = run_cli("detect", "--weights", trained / "weights" / "best.pt", "--source", tmp_path / "nope.mp4",
                "--project", tmp_path)
    assert r.returncode == 2 and "nope.mp4: no such file" in r.stderr
    r = run_cli("detect", "--weights", tmp_path / "w.pt", "--source", tmp_path, "--project", tmp_path)
    assert r.returncode == 2 and "w.pt: no such file" in r.stderr


def test_unknown_config_suggests_closest(data, tmp_path):
    r = run_cli("train", "--cfg", "yolov5s-shufflenet.yaml", "--data", data, "--project", tmp_path)
    assert r.returncode == 2 and "did you mean" in r.stderr and "yolov5s-shufflenetv2.yaml" in r.stderr
    assert not any(tmp_path.iterdir())


def test_missing_or_malformed_data_yaml(tmp_path):
    r = run_cli("train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", tmp_path / "none.yaml", "--project", tmp_path)
    assert r.returncode == 2 and "none.yaml: no such file" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    r = run_cli("train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", bad, "--project", tmp_path)
    assert r.returncode == 2 and "bad.yaml: not valid YAML" in r.stderr
    bad.write_text("train: images/train\n")
    r = run_cli("train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", bad, "--project", tmp_path)
    assert r.returncode == 2 and "missing key(s) val, names" in r.stderr


@pytest.mark.slow  # a whole demo twice (about a minute): test_demo runs it once in CI
def test_demo_twice_reuses_and_keeps_earlier_runs(tmp_path):
    args = ["demo", "--workdir", tmp_path, "--epochs", "1", "--train", "6", "--val", "3", "--imgsz", IMGSZ,
            "--batch", "4"]
    r1 = run_cli(*args, check=True)
    assert "annotated video" in r1.stdout
    first = tmp_path / "train" / "exp" / "weights" / "best.pt"
    stamp = first.stat().st_mtime_ns
    r2 = run_cli(*args, check=True)
    assert "reusing" in r2.stdout
    assert first.stat().st_mtime_ns == stamp and (tmp_path / "train" / "exp2" / "weights" / "best.pt").is_file()
    assert (tmp_path / "detect" / "video" / "video.mp4").is_file()
    assert (tmp_path / "detect" / "video2" / "video.mp4").is_file()
    r = run_cli("demo", "--workdir", tmp_path, "--cfg", "yolov5s-shufflenetv3.yaml")
    assert r.returncode == 2 and "yolov5s-shufflenetv2.yaml" in r.stderr


@pytest.mark.slow  # long (20-30 s on 2 cores): outside CI, run with -m slow
def test_learning_table_short_form(tmp_path):
    r = run_cli("learn", "--workdir", tmp_path, "--epochs", "1", "--train", "6", "--val", "3", "--imgsz", IMGSZ,
                "--cfgs", "yolov5s-shufflenetv2.yaml", "yolo11n-shufflenetv2.yaml", "--out", tmp_path / "out",
                check=True)  # a YOLOv5 config and an ultralytics one: both training routes, one table
    import json

    rows = json.loads((tmp_path / "out" / "learning.json").read_text())["rows"]
    assert [x["cfg"] for x in rows] == ["yolov5s-shufflenetv2.yaml", "yolo11n-shufflenetv2.yaml"]
    for x in rows:
        assert x["params"] > 1e6 and x["train_s"] > 0 and 0 <= x["mAP50"] <= 1
        assert all(math.isfinite(v) for v in x["final_losses"].values())
    assert "| yolov5s-shufflenetv2.yaml |" in r.stdout


def test_learning_table_with_seeds_gives_mean_and_spread():
    from yolov5_shuffle.measure.learning import markdown, summarise

    rows = [{"cfg": c, "seed": sd, "params": 10, "train_s": 1.0, "mAP50": m, "mAP50-95": m / 2}
            for c, sd, m in (("a.yaml", 0, 0.2), ("a.yaml", 1, 0.4), ("b.yaml", 0, 0.1), ("b.yaml", 1, 0.3))]
    (a, b) = summarise(rows)
    assert (a["cfg"], a["runs"], a["mAP50_min"], a["mAP50_max"]) == ("a.yaml", 2, 0.2, 0.4)
    assert a["mAP50"] == pytest.approx(0.3) and b["mAP50-95"] == pytest.approx(0.1)
    table = markdown(rows, "header")
    assert "| a.yaml | 1 | 10 | 0.400 |" in table  # a line a run, its seed named
    assert "| a.yaml | 2 | 0.300 (0.200-0.400) | 0.150 (0.100-0.200) |" in table
    one = markdown(rows[:1], "header")  # one seed: the old table, no seed column, no summary
    assert "| a.yaml | 10 | 0.200 | 0.100 | 1 |" in one and "mean" not in one


def test_learn_refuses_a_negative_seed(tmp_path):
    r = run_cli("learn", "--workdir", tmp_path, "--seeds", "0", "-1")
    assert r.returncode == 2 and "--seeds" in r.stderr and "got -1" in r.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_map50_floor_after_real_training(yolo_root, tmp_path):
    """Outside CI (pytest -m slow, ~10 min on 2 cores): the demo settings must actually learn."""
    data = make_dataset(tmp_path / "d", train=400, val=50, imgsz=160, seed=0)
    run = train(yolo_root, "yolov5s-shufflenetv2.yaml", data, 20, 160, tmp_path / "runs", batch=8, extra=SHORT_RUN)
    assert read_results(run)["mAP50"] >= MAP50_FLOOR


MAP50_FLOOR = 0.30  # measured 0.46 with these settings (H100 run, README "Learning"); floor leaves room for CPU noise
