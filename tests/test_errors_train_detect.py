"""train and detect: what the user meant reaches YOLOv5 (relative paths made absolute, unreadable videos in a
folder skipped), and bad input (missing files, unreadable videos, labels or data yamls) is refused in one line
before YOLOv5 runs, leaving nothing behind. YOLOv5 is replaced by a recorder (see errors_support)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from errors_support import (Case, assert_one_line, call, case_ids, check_input_case, edited_cfg, tiny_data,
                            train_argv, train_cfg, train_data, write_image, write_video)
from conftest import fake_checkpoint
from yolov5_shuffle import cli
from yolov5_shuffle.data.sources import line_thickness
from yolov5_shuffle import host_scripts as runs


# --- relative paths: a copy of a config named like an installed one, relative cfg / weights / source ------

def _cfg_copy_named_like_an_installed_one(w):
    edited_cfg(w / "yolov5n-shufflenetv2.yaml", "width_multiple: 1.0", "width_multiple: 0.25")
    return ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", os.path.relpath(tiny_data(w / "d"), w),
            "--epochs", 1, "--project", "runs"]


def _check_the_copy_is_used(w, rec):
    opt = rec.runs[0]["opt"]
    assert opt["--cfg"] == str(w / "yolov5n-shufflenetv2.yaml")  # the file as given, made absolute for train.py
    assert opt["--data"] == str(w / "d" / "data.yaml") and opt["--project"] == str(w / "runs")


def _relative_cfg_and_weights_argv(w):
    edited_cfg(w / "cfgs" / "my.yaml", "width_multiple: 1.0", "width_multiple: 0.25")
    return ["train", "--cfg", "cfgs/my.yaml", "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs",
            "--weights", "w/init.pt"]


def _relative_cfg_and_weights(w):
    (w / "w").mkdir()
    fake_checkpoint(w / "w" / "init.pt")
    return _relative_cfg_and_weights_argv(w)


def _check_cfg_and_weights_made_absolute(w, rec):
    opt = rec.runs[0]["opt"]
    assert opt["--cfg"] == str(w / "cfgs" / "my.yaml") and opt["--weights"] == str(w / "w" / "init.pt")


def _detect_relative_weights_from_another_folder(w):
    (w / "runs" / "train" / "exp" / "weights").mkdir(parents=True)
    fake_checkpoint(w / "runs" / "train" / "exp" / "weights" / "best.pt")
    write_image(w / "img.jpg", 320)
    return ["detect", "--weights", "runs/train/exp/weights/best.pt", "--source", "img.jpg", "--project", "out",
            "--imgsz", 320]


def _check_detect_paths_made_absolute(w, rec):
    opt = rec.runs[0]["opt"]
    assert opt["--weights"] == str(w / "runs" / "train" / "exp" / "weights" / "best.pt")
    assert opt["--source"] == str(w / "img.jpg") and opt["--project"] == str(w / "out")
    assert opt["--line-thickness"] == "1"  # labels sized for a 320 px picture (YOLOv5 draws 3 px by default)


def _detect_weights_missing(w):
    write_image(w / "img.jpg", 64)
    return ["detect", "--weights", "runs/nope/best.pt", "--source", "img.jpg", "--project", "out"]


# --- videos -------------------------------------------------------------------------------------------

def _empty_video(w):
    (w / "empty.mp4").write_bytes(b"")
    fake_checkpoint(w / "weights.pt")
    return ["detect", "--weights", "weights.pt", "--source", "empty.mp4", "--project", "out"]


def _corrupt_video(w):
    (w / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    fake_checkpoint(w / "weights.pt")
    return ["detect", "--weights", "weights.pt", "--source", "corrupt.mp4", "--project", "out"]


def _folder_with_bad_video(w):
    src = w / "src"
    write_image(src / "a.jpg", 64)
    write_image(src / "b.jpg", 64)
    write_video(src / "good.mp4")
    (src / "bad.mp4").write_bytes(b"not a video")
    fake_checkpoint(w / "weights.pt")
    return ["detect", "--weights", "weights.pt", "--source", "src", "--project", "out"]


def _folder_with_bad_video_check(w, rec):
    assert rec.runs[0]["source_listing"] == ["a.jpg", "b.jpg", "good.mp4"]  # the readable ones only


# --- labels and data yaml ----------------------------------------------------------------------------

def _bad_label(w):
    data = tiny_data(w / "d")
    lbl = sorted((w / "d" / "labels" / "train").glob("*.txt"))[0]
    lines = lbl.read_text().splitlines()
    lbl.write_text("\n".join([lines[0], "7 0.5 0.5 0.2 0.2", *lines[1:]]) + "\n")
    return ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data, "--project", "runs"]


def _binary_data(w):
    (w / "data.bin").write_bytes(bytes(range(256)))
    return w / "data.bin"


def _jpeg_data(w):
    return write_image(w / "data.jpg", 32)


def _text_data(w):
    (w / "notes.txt").write_text("these are my notes\n")
    return w / "notes.txt"


def _broken_yaml(w):
    (w / "data.yaml").write_text("train: [images/train\nval: x\n")
    return w / "data.yaml"


def _nc_zero(w):
    data = tiny_data(w / "d")
    d = yaml.safe_load(data.read_text())
    d["nc"], d["names"] = 0, []
    data.write_text(yaml.safe_dump(d))
    return data


# --- the two tables: accepted (YOLOv5 reached, paths checked there) and refused ------------------------

ACCEPTED = [
    Case("train-uses-a-relative-cfg-copy-over-the-installed-config-of-that-name",
         _cfg_copy_named_like_an_installed_one, 0, "note: --cfg yolov5n-shufflenetv2.yaml: using the file", "out",
         True, _check_the_copy_is_used),
    Case("train-hands-relative-cfg-and-weights-to-yolov5-as-absolute-paths", _relative_cfg_and_weights, 0,
         "results: ", "out", True, _check_cfg_and_weights_made_absolute),
    Case("detect-hands-relative-weights-source-project-as-absolute-paths-and-thin-lines-at-320-px",
         _detect_relative_weights_from_another_folder, 0, "results: ", "out", True, _check_detect_paths_made_absolute),
    Case("detect-skips-an-unreadable-video-in-a-folder-with-a-warning", _folder_with_bad_video, 0,
         "bad.mp4: not a readable video; skipped", "out", True, _folder_with_bad_video_check),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=case_ids(ACCEPTED))
def test_train_and_detect_hand_yolov5_what_the_user_meant(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


REFUSED = [
    Case("train-cfg-relative-path-missing", train_cfg(lambda w: "cfgs/none.yaml"), 2,
         "config cfgs/none.yaml: no such file"),
    Case("train-weights-missing", train_argv("--weights", "w/none.pt"), 2, "--weights w/none.pt: no such file"),
    Case("detect-weights-missing", _detect_weights_missing, 2, "weights runs/nope/best.pt: no such file"),
    Case("detect-zero-byte-video", _empty_video, 2, "source empty.mp4: not a readable video"),
    Case("detect-corrupt-video", _corrupt_video, 2, "source corrupt.mp4: not a readable video"),
    Case("train-label-class-id-outside-nc", _bad_label, 2, "train_00000.txt:2: class id 7 is outside 0..3"),
    Case("train-data-yaml-that-is-binary", train_data(_binary_data), 2, "not a YAML data file: "),
    Case("train-data-yaml-that-is-a-jpeg", train_data(_jpeg_data), 2, "not a YAML data file: "),
    Case("train-data-yaml-that-is-plain-text", train_data(_text_data), 2, "not a YAML data file: "),
    Case("train-data-yaml-with-a-syntax-error", train_data(_broken_yaml), 2, "data.yaml: not valid YAML"),
    Case("train-data-yaml-with-nc-zero", train_data(_nc_zero), 2, "nc must be a whole number >= 1, got 0"),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_train_and_detect_refuse_bad_input_in_one_line_before_yolov5_runs(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


# --- after YOLOv5 ran ---------------------------------------------------------------------------------------

def test_failed_detect_removes_the_run_folder_it_made_and_keeps_earlier_ones(work, yolov5, monkeypatch, capsys):
    """detect.py failing after it made its run folder (as YOLOv5 7.0 did on a zero-byte video): folder removed."""
    def failing(root, script, args, capture=False):
        args = [str(a) for a in args]
        project, i = Path(args[args.index("--project") + 1]), 2
        run = project / "exp"
        while run.exists():  # detect.py's increment: exp, exp2, ...
            run, i = project / f"exp{i}", i + 1
        run.mkdir(parents=True)
        raise runs.ScriptError("detect.py exited with 1 (its output above says why)")

    monkeypatch.setattr(runs, "_run", failing)
    write_video(work / "v.mp4")
    fake_checkpoint(work / "w.pt")
    code, out, err = call(capsys, "detect", "--weights", "w.pt", "--source", "v.mp4", "--project", "out")
    assert code == 2
    assert_one_line(err, "detect", "detect.py exited with 1")
    assert not (work / "out").exists()
    (work / "out" / "exp").mkdir(parents=True)  # an earlier run's folder (empty or not) is never touched
    code, _, _ = call(capsys, "detect", "--weights", "w.pt", "--source", "v.mp4", "--project", "out")
    assert code == 2 and (work / "out" / "exp").is_dir() and not (work / "out" / "exp2").exists()


def test_demo_pictures_are_320_px_and_labels_scale_with_the_picture():
    assert [line_thickness(s, s) for s in (128, 320, 480, 640, 1280, 4000)] == [1, 1, 2, 2, 3, 3]
    a = cli.build_parser().parse_args(["demo"])
    assert a.data_imgsz == 320 and a.imgsz == 160  # generated pictures 320 px; training may stay small

