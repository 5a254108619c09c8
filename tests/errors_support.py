"""Shared by the test_errors_*.py files: bad input, interrupted work and odd files give one clear line and
leave nothing behind.

Most tests run ``yolov5_shuffle.cli.main`` in this process with YOLOv5 replaced by a :class:`Recorder`: a
refusal must come before YOLOv5 would run (the recorder says whether it was reached), and the paths the
wrappers hand to train.py / detect.py are checked there. :func:`check_input_case` is the one check for a
table of command-line inputs (:class:`Case`): exit code, the one-line message, and no partial files, run
folders or changed bytes afterwards. The fixtures (``work``, ``yolov5``, ``host_tree``) are in conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from conftest import Recorder, snapshot
from yolov5_shuffle import cli
from yolov5_shuffle.configs import config_dir
from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.patching import patch as patcher

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


def tiny_data(folder: Path) -> Path:
    return make_dataset(folder, train=2, val=1, imgsz=64, seed=0)


# --- a table of command-line inputs, one check for all -----------------------------------------------

@dataclass
class Case:
    """A command-line input (``id`` says what it checks), its exit code and a fragment of the one line."""

    id: str
    setup: Callable[[Path], list]  # work folder -> argv (may create files)
    code: int
    fragment: str
    stream: str = "err"  # where the fragment is: "err" (the one line) or "out"
    reaches_yolov5: bool = False
    check: Callable[[Path, Recorder], None] | None = None  # further assertions


def case_ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def check_input_case(case: Case, work: Path, yolov5: Recorder, capsys) -> None:
    """Run the case's command line: a refusal is one line, exit 2, changes nothing and never reaches YOLOv5."""
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


def train_argv(*extra):
    return lambda w: ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", tiny_data(w / "d"), "--epochs", 1,
                      "--project", "runs", *extra]


def train_cfg(cfg_maker):
    def setup(w):
        return ["train", "--cfg", cfg_maker(w), "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs"]
    return setup


def train_data(data_maker):
    def setup(w):
        return ["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data_maker(w), "--project", "runs"]
    return setup


def host_cfg(kind: str) -> Path:
    return config_dir("yolov7") / "yolov7-tiny-shufflenetv2.yaml" if kind == "yolov7" else OUR_CFG

