"""The generated demo dataset: deterministic, valid YOLO labels, a readable video, clear refusals."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from yolov5_shuffle.dataset import CLASSES, DatasetError, make_dataset, validate


def test_dataset_is_valid_deterministic_and_varied(tmp_path):
    a = make_dataset(tmp_path / "a", train=12, val=4, imgsz=128, seed=3, video=True)
    make_dataset(tmp_path / "b", train=12, val=4, imgsz=128, seed=3)
    d = yaml.safe_load(a.read_text())
    assert d["path"] == str(tmp_path / "a") and d["nc"] == len(CLASSES) and len(d["names"]) == len(CLASSES)
    assert validate(tmp_path / "a") > 12
    for split, n in (("train", 12), ("val", 4)):
        imgs = sorted((tmp_path / "a" / "images" / split).glob("*.jpg"))
        assert len(imgs) == n
        for img in imgs:
            assert (tmp_path / "a" / "labels" / split / f"{img.stem}.txt").read_text() == \
                   (tmp_path / "b" / "labels" / split / f"{img.stem}.txt").read_text()
    labels = np.array([list(map(float, ln.split())) for f in (tmp_path / "a" / "labels" / "train").glob("*.txt")
                       for ln in f.read_text().splitlines()])
    assert set(labels[:, 0].astype(int)) == set(range(len(CLASSES)))  # every class occurs
    assert labels[:, 3].max() / labels[:, 3].min() > 2  # sizes vary
    assert (labels[:, 1:3].std(axis=0) > 0.1).all()  # positions vary
    cap = cv2.VideoCapture(str(tmp_path / "a" / "video.mp4"))
    ok, frame = cap.read()
    assert ok and frame.shape == (128, 128, 3) and cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 24


def test_same_settings_reuse_other_settings_refuse(tmp_path, capsys):
    make_dataset(tmp_path / "d", train=2, val=1, imgsz=64)
    stamp = (tmp_path / "d" / "dataset.json").stat().st_mtime_ns
    make_dataset(tmp_path / "d", train=2, val=1, imgsz=64)
    assert "reusing" in capsys.readouterr().out
    assert (tmp_path / "d" / "dataset.json").stat().st_mtime_ns == stamp
    with pytest.raises(DatasetError, match="other settings"):
        make_dataset(tmp_path / "d", train=3, val=1, imgsz=64)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        make_dataset(tmp_path / "busy", train=2, val=1, imgsz=64)
    with pytest.raises(DatasetError, match="multiple of 32"):
        make_dataset(tmp_path / "e", imgsz=100)


def test_validate_catches_bad_labels(tmp_path):
    make_dataset(tmp_path / "d", train=2, val=1, imgsz=64)
    lbl = next((tmp_path / "d" / "labels" / "train").glob("*.txt"))
    lbl.write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match="class id 7"):
        validate(tmp_path / "d")
    lbl.write_text("0 0.95 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match="not inside the image"):
        validate(tmp_path / "d")


def test_dataset_seed_below_zero_is_refused_by_the_command_line_and_the_api(tmp_path, capsys):
    from errors_support import assert_one_line, call

    code, out, err = call(capsys, "dataset", "--out", tmp_path / "d", "--seed", "-1")
    assert code == 2
    assert_one_line(err, "dataset", "--seed: must be >= 0 (a random seed), got -1")
    with pytest.raises(DatasetError, match="--seed must be >= 0"):
        make_dataset(tmp_path / "d", train=1, val=1, imgsz=64, seed=-1)
    assert not list(tmp_path.iterdir())


def test_dataset_on_a_full_disk_leaves_no_folder_behind(tmp_path, monkeypatch):
    """The folders made for --out (here three levels) and the hidden working folder are all removed."""
    import yolov5_shuffle.dataset as ds

    written, real = [], cv2.imwrite

    def imwrite(path, img, params=None):  # the disk fills up at the third image: OpenCV says only False
        written.append(path)
        return len(written) < 3 and real(path, img, params)

    monkeypatch.setattr(ds.cv2, "imwrite", imwrite)
    out = tmp_path / "a" / "b" / "c" / "shapes"
    with pytest.raises(ds.UserError, match=f"{out}: cannot write it: No space left on device"):
        make_dataset(out, train=4, val=1, imgsz=64)
    assert len(written) == 3 and not list(tmp_path.iterdir())


def test_dataset_removes_the_working_folder_a_killed_run_left(tmp_path):
    stale = tmp_path / ".shapes-999999999-abcdef12"  # a process id no process has
    (stale / "images").mkdir(parents=True)
    mine = tmp_path / "keep"  # not ours: left alone
    mine.mkdir()
    make_dataset(tmp_path / "shapes", train=1, val=1, imgsz=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "shapes"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where no folder can be made")
def test_dataset_out_that_cannot_be_made_is_one_line_naming_it(capsys):
    from errors_support import assert_one_line, call

    code, out, err = call(capsys, "dataset", "--out", "/proc/self/no/shapes", "--train", 1, "--val", 1, "--imgsz", 64)
    assert code == 2
    assert_one_line(err, "dataset", "--out /proc/self/no/shapes: ")
