"""Issue 12: bad input, interrupted work and odd files give one clear line, and leave nothing behind.

Each table row is an input, the exit code, a fragment of the one-line message, and what must not be
there afterwards (partial files, empty run folders, changed bytes). The command-line rows run
``yolov5_shuffle.cli.main`` in this process with YOLOv5 replaced by a recorder: a refusal must come
before YOLOv5 would run (the recorder says whether it was reached), and the paths the wrappers hand to
train.py / detect.py are checked there. The patch rows run the real command on fresh trees of every
host from the hosts layer (YOLOv5 PyPI and git layouts; YOLOv5 master and YOLOv7 where their archives
are present), including a fault test that kills the patch at every write step. The last tests need a
YOLOv5 that runs on today's packages (the vendored tree) and build models inside it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
import yaml

from conftest import CLI, fake_checkpoint, fixture_archive, python_in, run_cli, snapshot
from yolov5_shuffle import blocks, cli
from yolov5_shuffle.cfg_check import ConfigError, check_model_yaml
from yolov5_shuffle.configs import config_dir
from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.patching import patch as patcher
from yolov5_shuffle.hosts import runs

OUR_CFG = config_dir("yolov5") / "yolov5n-shufflenetv2.yaml"
TMP_MARKS = (patcher.TMP_PREFIX, patcher.JOURNAL, ".tmp")


# --- helpers -------------------------------------------------------------------------------------------

def call(capsys, *argv) -> tuple[int, str, str]:
    """cli.main in this process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, command: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith(f"yolov5-shuffle {command}: "), lines[0]
    assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "Traceback" not in err


def debris(folder: Path) -> list[Path]:
    """Temporary or journal files anywhere below folder."""
    return [p for p in Path(folder).rglob("*") if any(m in p.name for m in TMP_MARKS)]


def write_image(path: Path, size: int = 320) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
    return path


def write_video(path: Path, size: int = 64, frames: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12, (size, size))
    for i in range(frames):
        w.write(np.full((size, size, 3), 40 * i, np.uint8))
    w.release()
    return path


def edited_cfg(path: Path, old: str, new: str, src: Path = OUR_CFG) -> Path:
    text = src.read_text()
    assert old in text, old
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(old, new, 1))
    return path


@dataclass
class Recorder:
    """Stands in for YOLOv5: ensure_yolov5 gives a patched fresh tree, _run records and makes a run folder."""

    make_tree: Callable[[], Path]
    root: Path | None = None
    runs: list = field(default_factory=list)
    ensured: int = 0

    def ensure(self, root=None):
        self.ensured += 1
        if self.root is None:
            self.root = self.make_tree()
            patcher.run(self.root)
        return self.root

    def run(self, root, script, args, capture=False):
        args = [str(a) for a in args]
        opt = {a: args[i + 1] if i + 1 < len(args) else None for i, a in enumerate(args) if a.startswith("--")}
        src = opt.get("--source")
        listing = sorted(os.listdir(src)) if src and os.path.isdir(src) else None
        self.runs.append({"script": script, "opt": opt, "source_listing": listing})
        run = Path(opt["--project"]) / opt["--name"]
        run.mkdir(parents=True, exist_ok=True)
        (run / "results.txt").write_text("recorded\n")
        return subprocess.CompletedProcess(args, 0, "", "")

    @property
    def reached(self) -> bool:
        return bool(self.runs)


@pytest.fixture
def yolov5(monkeypatch, tree_factory):
    rec = Recorder(lambda: tree_factory("7.0.14", "pypi", name="host"))
    monkeypatch.setattr(runs, "ensure_yolov5", rec.ensure)
    monkeypatch.setattr(runs, "_run", rec.run)
    return rec


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty working folder that is the current directory (relative paths are the caller's)."""
    w = tmp_path / "work"
    w.mkdir()
    monkeypatch.chdir(w)
    return w


def tiny_data(folder: Path) -> Path:
    return make_dataset(folder, train=2, val=1, imgsz=64, seed=0)


# --- the command-line table: wrappers, dataset, init-weights, bench ------------------------------------

@dataclass
class Case:
    row: int
    id: str
    setup: Callable[[Path], list]  # work folder -> argv (may create files)
    code: int
    fragment: str
    stream: str = "err"  # where the fragment is: "err" (the one line) or "out"
    reaches_yolov5: bool = False
    check: Callable[[Path, Recorder], None] | None = None  # further assertions


def _train(*extra):
    return lambda w: ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", tiny_data(w / "d"), "--epochs", 1,
                      "--project", "runs", *extra]


def _train_cfg(cfg_maker):
    def setup(w):
        return ["train", "--cfg", cfg_maker(w), "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs"]
    return setup


def _train_data(data_maker):
    def setup(w):
        return ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data_maker(w), "--project", "runs"]
    return setup


# row 1: an edited copy given by a relative path that has an installed config's name
def _row1_clash(w):
    edited_cfg(w / "yolov5n-shufflenetv2.yaml", "width_multiple: 1.0", "width_multiple: 0.25")
    return ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", os.path.relpath(tiny_data(w / "d"), w),
            "--epochs", 1, "--project", "runs"]


def _row1_check(w, rec):
    opt = rec.runs[0]["opt"]
    assert opt["--cfg"] == str(w / "yolov5n-shufflenetv2.yaml")  # the file as given, made absolute for train.py
    assert opt["--data"] == str(w / "d" / "data.yaml") and opt["--project"] == str(w / "runs")


def _row1_plain(w):
    edited_cfg(w / "cfgs" / "my.yaml", "width_multiple: 1.0", "width_multiple: 0.25")
    return ["train", "--cfg", "cfgs/my.yaml", "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs",
            "--weights", "w/init.pt"]


def _row1_plain_setup(w):
    (w / "w").mkdir()
    fake_checkpoint(w / "w" / "init.pt")
    return _row1_plain(w)


def _row1_plain_check(w, rec):
    opt = rec.runs[0]["opt"]
    assert opt["--cfg"] == str(w / "cfgs" / "my.yaml") and opt["--weights"] == str(w / "w" / "init.pt")


# row 2: detect from another folder with relative weights
def _row2(w):
    (w / "runs" / "train" / "exp" / "weights").mkdir(parents=True)
    fake_checkpoint(w / "runs" / "train" / "exp" / "weights" / "best.pt")
    write_image(w / "img.jpg", 320)
    return ["detect", "--weights", "runs/train/exp/weights/best.pt", "--source", "img.jpg", "--project", "out",
            "--imgsz", 320]


def _row2_check(w, rec):
    opt = rec.runs[0]["opt"]
    assert opt["--weights"] == str(w / "runs" / "train" / "exp" / "weights" / "best.pt")
    assert opt["--source"] == str(w / "img.jpg") and opt["--project"] == str(w / "out")
    assert opt["--line-thickness"] == "1"  # labels sized for a 320 px picture (YOLOv5 draws 3 px by default)


def _row2_missing(w):
    write_image(w / "img.jpg", 64)
    return ["detect", "--weights", "runs/nope/best.pt", "--source", "img.jpg", "--project", "out"]


# rows 3, 4: videos
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


# row 5: a label class id >= nc
def _bad_label(w):
    data = tiny_data(w / "d")
    lbl = sorted((w / "d" / "labels" / "train").glob("*.txt"))[0]
    lines = lbl.read_text().splitlines()
    lbl.write_text("\n".join([lines[0], "7 0.5 0.5 0.2 0.2", *lines[1:]]) + "\n")
    return ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data, "--project", "runs"]


# row 6: --data that is not YAML
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


# rows 7-9: model yaml rows
def _cfg(old, new):
    return lambda w: edited_cfg(w / "bad.yaml", old, new)


STEM, UNIT = "[-1, 1, conv_bn_relu_maxpool, [24]]", "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2]]"


def _init_weights(setup_out=None, tv=None, extra=()):
    def setup(w):
        weights = tv(w) if tv else _tv_state(w)
        out = setup_out(w) if setup_out else w / "init.pt"
        return ["init-weights", "--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", weights, "--out", out,
                *extra]
    return setup


def _tv_state(w):
    import torch
    import torchvision

    f = w / "tv.pth"
    if not f.exists():
        torch.save(torchvision.models.shufflenet_v2_x0_5(weights=None).state_dict(), f)
    return f


def _junk(w):
    (w / "junk.pth").write_bytes(os.urandom(4096))
    return w / "junk.pth"


def _pickled_list(w):
    import torch

    torch.save([1, 2, 3], w / "list.pth")
    return w / "list.pth"


def _other_state_dict(w):
    import torch

    torch.save({"fc.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)}, w / "other.pth")
    return w / "other.pth"


def _existing_dir(w):
    (w / "outdir").mkdir()
    (w / "outdir" / "keep.txt").write_text("mine")
    return w / "outdir"


def _existing_file(w):
    (w / "bench.out").write_text("my notes\n")
    return w / "bench.out"


CASES = [
    Case(1, "cfg-relative-copy-with-installed-name", _row1_clash, 0,
         "note: --cfg yolov5n-shufflenetv2.yaml: using the file", "out", True, _row1_check),
    Case(1, "cfg-and-weights-relative-paths", _row1_plain_setup, 0, "results: ", "out", True, _row1_plain_check),
    Case(1, "cfg-relative-path-missing", _train_cfg(lambda w: "cfgs/none.yaml"), 2,
         "config cfgs/none.yaml: no such file"),
    Case(1, "train-weights-missing", _train("--weights", "w/none.pt"), 2, "--weights w/none.pt: no such file"),
    Case(2, "detect-relative-weights-from-another-folder", _row2, 0, "results: ", "out", True, _row2_check),
    Case(2, "detect-weights-missing", _row2_missing, 2, "weights runs/nope/best.pt: no such file"),
    Case(3, "zero-byte-video", _empty_video, 2, "source empty.mp4: not a readable video"),
    Case(3, "corrupt-video", _corrupt_video, 2, "source corrupt.mp4: not a readable video"),
    Case(4, "folder-with-unreadable-video", _folder_with_bad_video, 0, "bad.mp4: not a readable video; skipped",
         "out", True, _folder_with_bad_video_check),
    Case(5, "label-class-id-too-big", _bad_label, 2, "train_00000.txt:2: class id 7 is outside 0..3"),
    Case(6, "data-binary", _train_data(_binary_data), 2, "not a YAML data file: "),
    Case(6, "data-jpeg", _train_data(_jpeg_data), 2, "not a YAML data file: "),
    Case(6, "data-plain-text", _train_data(_text_data), 2, "not a YAML data file: "),
    Case(6, "data-broken-yaml", _train_data(_broken_yaml), 2, "data.yaml: not valid YAML"),
    Case(7, "width-zero", _train_cfg(_cfg(STEM, "[-1, 1, conv_bn_relu_maxpool, [0]]")), 2,
         "layer 0 conv_bn_relu_maxpool: argument c2 (output channels) must be a positive whole number, got 0"),
    Case(7, "width-negative", _train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [-48, 2]]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: argument c2 (output channels) must be a positive whole number, "
         "got -48"),
    Case(7, "width-fractional", _train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [47.5, 2]]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: argument c2 (output channels) must be a positive whole number, "
         "got 47.5"),
    Case(7, "stride-three", _train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 3]]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: stride must be one of (1, 2), got 3"),
    Case(8, "typo-in-our-block", _train_cfg(_cfg("ShuffleNetV2_InvertedResidual, [48, 2]",
                                                 "ShuffleNetV2_InvertedResidul, [48, 2]")), 2,
         "layer 1: unknown module 'ShuffleNetV2_InvertedResidul'; closest known: ShuffleNetV2_InvertedResidual"),
    Case(8, "typo-in-a-yolov5-module", _train_cfg(_cfg("[-1, 1, Conv, [", "[-1, 1, Conw, [")), 2,
         "unknown module 'Conw'; closest known: Conv"),
    Case(8, "typo-in-torch-nn", _train_cfg(_cfg("nn.Upsample", "nn.Upsampel")), 2,
         "unknown module 'nn.Upsampel' (not in torch.nn); did you mean nn.Upsample?"),
    Case(9, "too-few-args", _train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, []]")), 2,
         "layer 1 ShuffleNetV2_InvertedResidual: expected arguments [c2, stride=1] (1 to 2 of them), got 0: []"),
    Case(9, "too-many-args", _train_cfg(_cfg(UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 2, 1, 1]]")), 2,
         "expected arguments [c2, stride=1] (1 to 2 of them), got 4: [48, 2, 1, 1]"),
    Case(9, "too-many-stem-args", _train_cfg(_cfg(STEM, "[-1, 1, conv_bn_relu_maxpool, [24, 2]]")), 2,
         "layer 0 conv_bn_relu_maxpool: expected arguments [c2] (1 of them), got 2: [24, 2]"),
    Case(17, "init-weights-junk", _init_weights(tv=_junk), 2, "not a torchvision state dict: "),
    Case(17, "init-weights-pickled-list", _init_weights(tv=_pickled_list), 2, "not a torchvision state dict: "),
    Case(17, "init-weights-other-state-dict", _init_weights(tv=_other_state_dict), 2,
         "not a torchvision state dict: "),
    Case(18, "init-weights-out-is-a-folder", _init_weights(setup_out=_existing_dir), 2, "is a folder; give a file"),
    Case(19, "init-weights-nc-zero", _init_weights(extra=("--nc", "0")), 2,
         "argument --nc: must be >= 1 (number of classes), got 0"),
    Case(19, "data-nc-zero", _train_data(_nc_zero), 2, "nc must be a whole number >= 1, got 0"),
    Case(20, "bench-imgsz-zero", lambda w: ["bench", "--imgsz", "0", "--out", "b"], 2,
         "argument --imgsz: must be a multiple of 32 from 32 to 4096"),
    Case(20, "bench-imgsz-33", lambda w: ["bench", "--imgsz", "320", "33", "--out", "b"], 2,
         "argument --imgsz: must be a multiple of 32 from 32 to 4096 (YOLOv5's largest stride is 32), got 33"),
    Case(21, "bench-reps-zero", lambda w: ["bench", "--reps", "0", "--out", "b"], 2,
         "argument --reps: must be >= 1 (timed rounds), got 0"),
    Case(21, "bench-threads-zero", lambda w: ["bench", "--threads", "0", "--out", "b"], 2,
         "argument --threads: must be >= 1 (threads), got 0"),
    Case(21, "bench-warmup-negative", lambda w: ["bench", "--warmup", "-1", "--out", "b"], 2,
         "argument --warmup: must be >= 0 (untimed runs), got -1"),
    Case(22, "bench-out-is-a-file", lambda w: ["bench", "--quick", "--out", _existing_file(w)], 2,
         "is a file, not a folder; results would be lost"),
    Case(24, "dataset-imgsz-huge", lambda w: ["dataset", "--out", "ds", "--imgsz", "100000"], 2,
         "argument --imgsz: must be a multiple of 32 from 64 to 2048"),
    Case(24, "dataset-imgsz-not-a-number", lambda w: ["dataset", "--out", "ds", "--imgsz", "big"], 2,
         "argument --imgsz: expected a whole number, got 'big'"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"row{c.row}-{c.id}" for c in CASES])
def test_command_line_input(case, work, yolov5, capsys):
    argv = case.setup(work)
    before = snapshot(work)
    code, out, err = call(capsys, *argv)
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout:\n{out}\nstderr:\n{err}"
    if case.code:
        assert_one_line(err, argv[0], case.fragment)
        assert snapshot(work) == before, "a refused command changed files"
        assert not any((work / p).exists() for p in ("runs", "out", "ds", "b", "init.pt")), "run/output folder left"
    else:
        assert case.fragment in (out if case.stream == "out" else err), (out, err)
        assert "Traceback" not in err
    assert yolov5.reached == case.reaches_yolov5, "YOLOv5 was run" if yolov5.reached else "YOLOv5 never ran"
    assert not debris(work), debris(work)
    if case.check:
        case.check(work, yolov5)


# --- more rows: the run folder of a failed run, the video warning, the dataset yaml -----------------------

def test_row3_failed_detect_leaves_no_empty_run_folder(work, yolov5, monkeypatch, capsys):
    """detect.py failing after it made its run folder (as YOLOv5 7.0 did on a zero-byte video): folder removed."""
    def failing(root, script, args, capture=False):
        args = [str(a) for a in args]
        (Path(args[args.index("--project") + 1]) / "exp").mkdir(parents=True)
        raise runs.YOLOv5Error("detect.py exited with 1 (its output above says why)")

    monkeypatch.setattr(runs, "_run", failing)
    write_video(work / "v.mp4")
    fake_checkpoint(work / "w.pt")
    code, out, err = call(capsys, "detect", "--weights", "w.pt", "--source", "v.mp4", "--project", "out")
    assert code == 2
    assert_one_line(err, "detect", "detect.py exited with 1")
    assert not (work / "out").exists()
    (work / "out" / "exp").mkdir(parents=True)  # an earlier run's folder (empty or not) is never touched
    code, _, _ = call(capsys, "detect", "--weights", "w.pt", "--source", "v.mp4", "--project", "out")
    assert code == 2 and (work / "out" / "exp").is_dir()


@pytest.mark.parametrize("name", ["a #b", "c: d", "e'f\"g", "h - [i]", "ü {j}"])
def test_row23_dataset_yaml_quotes_odd_paths(tmp_path, capsys, name):
    out = tmp_path / name / "data"
    code, stdout, err = call(capsys, "dataset", "--out", out, "--train", 1, "--val", 1, "--imgsz", 64)
    assert code == 0, err
    d = yaml.safe_load((out / "data.yaml").read_text())
    assert d["path"] == str(out) and d["train"] == "images/train" and d["nc"] == 4 and len(d["names"]) == 4
    assert runs.check_data_yaml(out / "data.yaml")["path"] == str(out)
    assert not debris(tmp_path) and [p.name for p in (tmp_path / name).iterdir()] == ["data"]


def test_row24_dataset_refuses_huge_images_in_the_api_too(tmp_path):
    from yolov5_shuffle.dataset import DatasetError

    with pytest.raises(DatasetError, match="from 64 to 2048"):
        make_dataset(tmp_path / "d", imgsz=100000)
    assert not (tmp_path / "d").exists()


def test_demo_pictures_are_320_px_and_labels_scale_with_the_picture():
    assert [runs.line_thickness(s, s) for s in (128, 320, 480, 640, 1280, 4000)] == [1, 1, 2, 2, 3, 3]
    a = cli.build_parser().parse_args(["demo"])
    assert a.data_imgsz == 320 and a.imgsz == 160  # generated pictures 320 px; training may stay small


# --- rows 7-9 on every host's module names (read from its sources, nothing run) --------------------------

def _extract(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as t:
        t.extractall(into, filter="data")
    return next(p for p in into.iterdir() if p.is_dir())


@pytest.fixture(params=["yolov5-pypi", "yolov5-git", "yolov5-master", "yolov7"])
def host_tree(request, tree_factory, tmp_path):
    """A fresh, unpatched tree of each host."""
    kind = request.param
    if kind == "yolov5-pypi":
        return kind, tree_factory("7.0.14", "pypi")
    if kind == "yolov5-git":
        return kind, tree_factory("7.0.14", "upstream")
    archive = {"yolov5-master": "yolov5-master-5081342.tar.gz", "yolov7": "yolov7-a207844.tar.gz"}[kind]
    return kind, _extract(fixture_archive(archive), tmp_path / "src")


def _host_cfg(kind: str) -> Path:
    return config_dir("yolov7") / "yolov7-tiny-shufflenetv2.yaml" if kind == "yolov7" else OUR_CFG


def test_rows7_to_9_and_16_model_yaml_checked_against_each_host(host_tree, tmp_path):
    kind, root = host_tree
    src = _host_cfg(kind)
    stem = next(ln for ln in src.read_text().splitlines() if "conv_bn_relu_maxpool" in ln)
    row = stem.split("conv_bn_relu_maxpool")[0].strip().lstrip("-").strip().lstrip("[")  # e.g. "[-1, 1, "
    layer = [i for i, r in enumerate(yaml.safe_load(src.read_text())["backbone"]) if r[2] == "conv_bn_relu_maxpool"][0]
    with pytest.raises(ConfigError, match=rf"layer {layer} conv_bn_relu_maxpool: .*not patched.*yolov5-shuffle patch"):
        check_model_yaml(src, root)  # row 16: our blocks in an unpatched tree
    patcher.run(root)
    check_model_yaml(src, root)
    for old, new, fragment in [
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpool, [0]", "must be a positive whole number, got 0"),
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpool, [23.5]", "must be a positive whole number, got 23.5"),
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpol, [24]",
         "unknown module 'conv_bn_relu_maxpol'; closest known: conv_bn_relu_maxpool"),
        ("conv_bn_relu_maxpool, [24]", "conv_bn_relu_maxpool, []", "expected arguments [c2] (1 of them), got 0"),
    ]:
        bad = edited_cfg(tmp_path / f"bad-{kind}.yaml", old, new, src)
        with pytest.raises(ConfigError) as e:
            check_model_yaml(bad, root)
        assert f"layer {layer}" in str(e.value) and fragment in str(e.value), str(e.value)
        assert str(bad) in str(e.value) and "\n" not in str(e.value)
    assert row  # the yaml row shape was found


def test_block_arguments_named_by_layer_with_the_input_channels():
    """What the patched parse_model runs for each of our rows, once the host knows c1 and the repeats."""
    check = blocks.check_yaml_args
    with pytest.raises(ValueError, match=r"layer 3 ShuffleNetV2_InvertedResidual: stride 1 keeps the channel count"):
        check(blocks.ShuffleNetV2_InvertedResidual, [116, 1], 3, c1=58)
    with pytest.raises(ValueError, match=r"layer 5 MobileNetV2_Block: 3 repeats need c1 == c2"):
        check(blocks.MobileNetV2_Block, [32, 2, 6], 5, c1=24, n=3)
    with pytest.raises(ValueError, match=r"layer 2 DWSConv: kernel size k must be odd .*\[c2, k=3, s=1, act=True\]"):
        check(blocks.DWSConv, [32, 4, 1], 2, c1=16)
    with pytest.raises(ValueError, match=r"c2 \(output channels\) must be a positive whole number, got 0"):
        blocks.scale_width(0, 1.0)  # was clamped to 2
    check(blocks.ShuffleNetV2_InvertedResidual, [116, 2], 1, c1=24)
    check(blocks.MobileNetV2_Block, [24, 1, 6], 4, c1=24, n=2)


def test_tree_patched_by_an_older_version_gets_todays_lines(monkeypatch, tree_factory):
    """The registration now checks each row (rows 7-9 in the tree itself): a tree patched with the older
    lines (0.1: no check line, a shorter import) is upgraded, not refused as hand-edited (it is ours)."""
    from yolov5_shuffle.patching import vendor

    root = tree_factory("7.0.14", "pypi")
    patcher.run(root)
    yolo = root / "models" / "yolo.py"
    current = yolo.read_text()
    older = "".join(ln for ln in current.splitlines(keepends=True) if "check_yaml_args(m, args" not in ln)
    yolo.write_text(older.replace(", check_yaml_args  # yolov5-shuffle", "  # yolov5-shuffle"))
    assert patcher.status(root)[0] == patcher.UNPATCHED
    monkeypatch.setattr(vendor, "vendor", lambda dest, **kw: dest)
    assert runs.ensure_yolov5(root) == root
    assert yolo.read_text() == current and patcher.status(root)[0] == patcher.PATCHED and not debris(root)


def test_row16_no_or_unpatched_yolov5_says_which_command(monkeypatch, tree_factory):
    from yolov5_shuffle import cfg_check

    monkeypatch.setattr(cfg_check, "importable_host_root", lambda: None)
    with pytest.raises(ConfigError, match=r"run `yolov5-shuffle vendor`.*`yolov5-shuffle patch PATH`"):
        cfg_check.require_patched_host()
    root = tree_factory("7.0.14", "pypi")
    monkeypatch.setattr(cfg_check, "importable_host_root", lambda: root)
    with pytest.raises(ConfigError, match=rf"{root}: this YOLOv5 is not patched.*run `yolov5-shuffle patch {root}`"):
        cfg_check.require_patched_host()
    patcher.run(root)
    assert cfg_check.require_patched_host() == root


@pytest.mark.parametrize("command", ["init-weights", "bench"])
def test_row16_unpatched_yolov5_on_the_import_path(command, tree_factory, tmp_path):
    """A real process whose importable YOLOv5 is not patched: one line naming the patch command, exit 2."""
    import torch
    import torchvision

    root = tree_factory("7.0.14", "pypi")
    torch.save(torchvision.models.shufflenet_v2_x0_5(weights=None).state_dict(), tmp_path / "tv.pth")
    args = {"init-weights": ["--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", tmp_path / "tv.pth",
                             "--out", tmp_path / "init.pt"],
            "bench": ["--quick", "--reps", "1", "--out", tmp_path / "bench"]}[command]
    before = snapshot(root)
    r = run_cli(command, *args, cwd=tmp_path, env={"PYTHONPATH": str(root.parent)})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert_one_line(r.stderr, command, f"this YOLOv5 is not patched, so it cannot build our blocks; run "
                                       f"`yolov5-shuffle patch {root}`")
    assert snapshot(root) == before and not (tmp_path / "init.pt").exists() and not (tmp_path / "bench").exists()


# --- one convention for every command ------------------------------------------------------------------

def test_convention_one_line_exit_2_traceback_only_with_verbose(tmp_path):
    (tmp_path / "f").write_text("a file")
    r = run_cli("dataset", "--out", tmp_path / "f" / "ds", "--train", 1, "--val", 1, "--imgsz", 64)
    assert r.returncode == 2
    assert_one_line(r.stderr, "dataset", "is a file, not a folder")
    for argv in (["--verbose", "dataset"], ["dataset", "--verbose"]):
        r = run_cli(*argv, "--out", tmp_path / "f" / "ds", "--train", 1, "--val", 1, "--imgsz", 64)
        assert r.returncode == 2 and "Traceback" in r.stderr and "DatasetError" in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("yolov5-shuffle dataset: ")
    r = run_cli("dataset", "--imgsz", 64)  # argparse: one line too, exit 2
    assert r.returncode == 2
    assert_one_line(r.stderr, "dataset", "the following arguments are required: --out")
    r = run_cli("nosuchcommand")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("yolov5-shuffle: ")


def test_convention_internal_error_and_interrupt(monkeypatch, capsys, tmp_path):
    import yolov5_shuffle.dataset as ds

    def boom(*a, **k):
        raise RuntimeError("unexpected\nsecond line")

    monkeypatch.setattr(ds, "make_dataset", boom)
    code, out, err = call(capsys, "dataset", "--out", tmp_path / "d")
    assert code == 3
    assert_one_line(err, "dataset", "internal error (RuntimeError: unexpected); rerun with --verbose")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ds, "make_dataset", interrupted)
    code, out, err = call(capsys, "dataset", "--out", tmp_path / "d")
    assert code == 130
    assert_one_line(err, "dataset", "interrupted")


# --- patch rows 10-15, on every host ---------------------------------------------------------------------

def _cli_patch(*args, umask: int | None = None) -> subprocess.CompletedProcess:
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([*CLI, "patch", *map(str, args)], capture_output=True, text=True, preexec_fn=pre)


# Kill the patch at write step k, for every k. The driver imports everything once and forks a child per k
# (a real process each, killed by a real signal); the child counts every write-like call the patch makes
# (journal folder and files, each file's temporary write, fsync, chmod and rename, deletions, the journal's
# removal) and signals itself at the k-th, before it happens. SIGKILL: the next `yolov5-shuffle patch`
# recovers; SIGINT: the KeyboardInterrupt rolls back in that same process.
FAULT_DRIVER = r'''
import json, os, pathlib, shutil, signal, sys
pristine, work, sig = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
# a user's Ctrl-C raises KeyboardInterrupt; a test started in the background inherits SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
args = sys.argv[4:]
import yolov5_shuffle.patching.patch as P
from yolov5_shuffle.cli import main

def child(tree, k, log):
    pid = os.fork()
    if pid == 0:
        fd = os.open(str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1); os.dup2(fd, 2)
        if k:
            count = [0]
            def wrap(owner, name):
                real = getattr(owner, name)
                def f(*a, **kw):
                    count[0] += 1
                    if count[0] == k:
                        os.kill(os.getpid(), sig)
                    return real(*a, **kw)
                setattr(owner, name, f)
            for name in ("mkdir", "replace", "fsync", "chmod", "unlink", "rmdir"):
                wrap(os, name)
            for name in ("write_bytes", "write_text"):
                wrap(pathlib.Path, name)
            wrap(P, "_write")
        try:
            rc = main([a.replace("{tree}", str(tree)) for a in args])
        except BaseException:
            import traceback; traceback.print_exc(); rc = 99
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(rc)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

results = []
for k in range(1, 500):
    tree = work / f"k{k}" / pristine.name
    shutil.copytree(pristine, tree, symlinks=True)
    first = child(tree, k, work / f"k{k}.first.log")
    entry = {"k": k, "tree": str(tree), "first": first, "recovery": None}
    if first == -sig and sig == 9:
        entry["recovery"] = child(tree, 0, work / f"k{k}.recovery.log")
    results.append(entry)
    if first == 0:  # k beyond the last write step: this run finished untouched
        break
print(json.dumps(results))
'''


def _fault_runs(pristine: Path, work: Path, sig: int, *args) -> list[dict]:
    work.mkdir()
    r = subprocess.run([sys.executable, "-c", FAULT_DRIVER, pristine, work, str(sig), *args], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _patch_surface(root: Path, dest: Path) -> Path:
    """The part of a host tree the patch reads and writes (models/, YOLOv7's cfg/training), copied: the tree
    the fault test copies for every step, small enough to copy and hash a few hundred times."""
    import shutil

    for rel in ("models", "cfg/training"):
        if (root / rel).is_dir():
            shutil.copytree(root / rel, dest / rel, symlinks=True)
    return dest


FAULT_RUNS = [("yolov5-pypi", "patch"), ("yolov5-pypi", "revert"), ("yolov5-git", "patch"),
              ("yolov5-master", "patch"), ("yolov7", "patch"), ("yolov7", "revert")]  # revert on the git layouts
# writes the same files as on the PyPI one (same engine, same edits); left out for time


@pytest.mark.parametrize("host_tree,direction", FAULT_RUNS, indirect=["host_tree"],
                         ids=[f"{h}-{d}" for h, d in FAULT_RUNS])
def test_row10_killed_at_every_write_step_all_or_nothing(host_tree, tmp_path, direction):
    kind, full = host_tree
    root = _patch_surface(full, tmp_path / "surface" / full.name)
    original = snapshot(root)
    patched_tree = tmp_path / "patched" / root.name
    import shutil

    shutil.copytree(root, patched_tree, symlinks=True)
    patcher.run(patched_tree)
    patched = snapshot(patched_tree)
    pristine, target = (root, patched) if direction == "patch" else (patched_tree, original)
    extra = ["--revert"] if direction == "revert" else []
    pristine_snap = snapshot(pristine)
    # SIGINT takes the same rollback path on every host (one engine); it is driven through every write step
    # on the PyPI tree, SIGKILL (recovery on the next run) on every host
    signals = (signal.SIGKILL, signal.SIGINT) if kind == "yolov5-pypi" else (signal.SIGKILL,)
    for sig in signals:
        results = _fault_runs(pristine, tmp_path / f"{direction}-{sig.name}", sig.value, "patch", "{tree}", *extra)
        assert len(results) >= 10, f"only {len(results) - 1} write steps seen"
        assert results[-1]["first"] == 0 and snapshot(Path(results[-1]["tree"])) == target
        for e in results[:-1]:
            tree, where = Path(e["tree"]), f"{kind} {direction} {sig.name} at write step {e['k']}"
            log = (tree.parent.parent / f"k{e['k']}.first.log").read_text()
            if sig == signal.SIGKILL:
                assert e["first"] == -9, (where, log)
                assert e["recovery"] == 0, (where, (tree.parent.parent / f"k{e['k']}.recovery.log").read_text())
                assert snapshot(tree) == target, where  # recovered, then done: all of it
            else:
                assert e["first"] == 130, (where, log)
                assert "yolov5-shuffle patch: interrupted" in log and "Traceback" not in log, (where, log)
                assert snapshot(tree) in (pristine_snap, target), where  # rolled back at once (or finished)
            assert not debris(tree), (where, debris(tree))


def test_row11_new_files_follow_the_umask(host_tree):
    kind, root = host_tree
    yolo = root / "models" / "yolo.py"
    yolo.chmod(0o640)
    for umask, want in ((0o027, 0o640), (0o002, 0o664)):
        r = _cli_patch(root, umask=umask)
        assert r.returncode == 0, r.stderr
        new = [root / rel for rel in snapshot(root) if rel.endswith("-shufflenetv2.yaml")]
        assert new and all(stat.S_IMODE(p.stat().st_mode) == want for p in new), \
            [(p.name, oct(p.stat().st_mode)) for p in new]
        assert stat.S_IMODE(yolo.stat().st_mode) == 0o640  # an edited file keeps its own mode
        assert _cli_patch(root, "--revert", umask=umask).returncode == 0


def test_row12_symlinked_yolo_py_edits_the_target(host_tree, tmp_path):
    kind, root = host_tree
    yolo = root / "models" / "yolo.py"
    real = tmp_path / "elsewhere" / "yolo.py"
    real.parent.mkdir()
    real.write_bytes(yolo.read_bytes())
    yolo.unlink()
    yolo.symlink_to(real)
    original = real.read_bytes()
    r = run_cli("patch", root)
    assert r.returncode == 0, r.stderr
    assert f"note: {yolo} is a link: editing its target {real}" in r.stdout
    assert yolo.is_symlink() and yolo.resolve() == real and b"# yolov5-shuffle" in real.read_bytes()
    assert run_cli("patch", root, "--check").returncode == patcher.PATCHED
    assert run_cli("patch", root, "--revert").returncode == 0
    assert yolo.is_symlink() and real.read_bytes() == original
    assert not debris(root) and not debris(real.parent)


def test_row13_read_only_yolo_py_cannot_be_patched(host_tree):
    kind, root = host_tree
    yolo = root / "models" / "yolo.py"
    yolo.chmod(0o444)
    before = snapshot(root)
    r = run_cli("patch", root, "--check")
    assert r.returncode == patcher.REFUSED
    assert_one_line(r.stderr, "patch", f"{yolo.resolve()}: read-only; cannot patch")
    r = run_cli("patch", root)
    assert r.returncode == 2
    assert_one_line(r.stderr, "patch", "read-only; nothing was changed")
    assert snapshot(root) == before and not debris(root)


def test_row14_revert_after_hand_edits_reverts_ours_and_names_the_rest(host_tree):
    kind, root = host_tree
    original = snapshot(root)
    assert run_cli("patch", root).returncode == 0
    yolo = root / "models" / "yolo.py"
    text = yolo.read_text()
    anchor = "elif m is nn.BatchNorm2d:"
    assert anchor in text
    yolo.write_text(text.replace(anchor, anchor + "  # my note", 1))
    cfg_dest = root / ("cfg/training" if kind == "yolov7" else "models") / _host_cfg(kind).name
    cfg_dest.write_text(cfg_dest.read_text() + "# my change\n")
    r = run_cli("patch", root, "--revert")
    assert r.returncode == 0, r.stderr
    assert f"note: {cfg_dest}: differs from yolov5-shuffle's {cfg_dest.name} (edited or someone else's); left in " \
           "place" in r.stdout
    assert "# yolov5-shuffle" not in yolo.read_text() and anchor + "  # my note" in yolo.read_text()
    after = snapshot(root)
    changed = {k for k in original if after.get(k) != original[k]} | (set(after) - set(original))
    assert changed == {"models/yolo.py", str(cfg_dest.relative_to(root))}  # the two hand edits, nothing of ours
    assert not debris(root)


def test_row15_non_utf8_yolo_py_is_refused_naming_file_and_encoding(host_tree):
    kind, root = host_tree
    yolo = root / "models" / "yolo.py"
    raw = yolo.read_bytes()
    yolo.write_bytes(b"# caf\xe9 (latin-1)\n" + raw)
    before = snapshot(root)
    for args in ([], ["--check"], ["--dry-run"], ["--revert"]):
        r = run_cli("patch", root, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert_one_line(r.stderr, "patch", f"{yolo}: not UTF-8 text (byte 0xe9 at offset 5)")
    assert snapshot(root) == before and not debris(root)


# --- needs a YOLOv5 that runs on today's packages (the vendored tree): builds inside the host ------------

@pytest.fixture(scope="module")
def yolo_root():
    return runs.ensure_yolov5()


@pytest.mark.parametrize("old,new,fragment", [
    (STEM, "[-1, 1, conv_bn_relu_maxpool, [0]]",
     "ValueError: layer 0 conv_bn_relu_maxpool: argument c2 (output channels) must be a positive whole number, got 0"),
    (UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, []]",
     "ValueError: layer 1 ShuffleNetV2_InvertedResidual: expected arguments [c2, stride=1] (1 to 2 of them), got 0"),
    (UNIT, "[-1, 1, ShuffleNetV2_InvertedResidual, [48, 1]]",
     "ValueError: layer 1 ShuffleNetV2_InvertedResidual: stride 1 keeps the channel count, so c1 must equal c2; "
     "got c1=24, c2=48"),
])
def test_rows7_9_in_the_patched_tree_itself(yolo_root, tmp_path, old, new, fragment):
    """train.py run by hand in a patched tree: its parse_model names the layer too (the registration check)."""
    bad = edited_cfg(tmp_path / "bad.yaml", old, new)
    r = python_in(yolo_root, f"from yolov5.models.yolo import Model\nModel(r'{bad}')\n", "pypi")
    assert r.returncode != 0 and fragment in r.stderr, r.stderr[-3000:]
