"""`pick --accuracy FILE`: the file is read within bounds and every row checked before anything is timed; a bad row
is one line naming the file and the row. A config file the table names is built only when the user names it with
--configs too, and then only as data: a yaml that is code never runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import CLI, REPO
from errors_support import OUR_CFG, assert_one_line, call
from yolov5_shuffle.measure import pick

MARKER = "payload-ran"


def _row(**over) -> dict:
    return {"cfg": "yolov5n.yaml", "imgsz": 64, "seed": 0, "epochs": 2, "mAP50": 0.6, "mAP50-95": 0.4,
            "curve": [0.2, 0.4], "plateaued": False, "device": "test CPU", "recipe": {"name": "test recipe"}, **over}


def _table(tmp_path: Path, *rows: dict, text: str | None = None) -> Path:
    f = tmp_path / "yardstick.json"
    f.write_text(text if text is not None else json.dumps({"rows": list(rows)}))
    return f


def _refused(capsys, table: Path, fragment: str, *extra) -> None:
    code, out, err = call(capsys, "pick", "--budget-ms", "100", "--accuracy", table, *extra)
    assert code == 2, (out, err)
    assert_one_line(err, "pick", fragment)
    assert "timing" not in out


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.1, 1.5, "0.4", True])
def test_pick_refuses_a_row_whose_map_is_not_a_finite_number_from_0_to_1(tmp_path, capsys, value):
    table = _table(tmp_path, _row(), _row(**{"mAP50-95": value}))
    _refused(capsys, table, f"--accuracy {table}: row 2 ('yolov5n.yaml'): mAP50-95 must be a finite number from 0 to 1")


@pytest.mark.parametrize("imgsz", [33, 100, 0, "64", True, 8192])
def test_pick_refuses_a_row_whose_size_the_imgsz_flag_refuses(tmp_path, capsys, imgsz):
    table = _table(tmp_path, _row(imgsz=imgsz))
    _refused(capsys, table, "row 1 ('yolov5n.yaml'): imgsz must be a multiple of 32 from 32 to 4096")


def test_pick_names_the_keys_a_row_is_missing(tmp_path, capsys):
    row = _row()
    for key in ("seed", "epochs", "device"):
        del row[key]
    _refused(capsys, _table(tmp_path, row), "row 1: no seed, epochs, device")


@pytest.mark.parametrize("cfg", [["yolov5n.yaml"], 3, None, ""])
def test_pick_refuses_a_row_whose_cfg_is_not_a_name(tmp_path, capsys, cfg):
    _refused(capsys, _table(tmp_path, _row(cfg=cfg)), "row 1: cfg must be a config name or path")


def test_pick_refuses_deeply_nested_json_in_one_line(tmp_path, capsys):
    _refused(capsys, _table(tmp_path, text="[" * 100_000 + "]" * 100_000), "nested too deep")


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_pick_refuses_a_fifo_folder_or_device_by_what_it_is_without_reading_it(tmp_path, kind):
    path = {"fifo": tmp_path / "pipe.json", "folder": tmp_path, "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # nothing ever writes to it: a read would wait forever
    r = subprocess.run([*CLI, "pick", "--budget-ms", "100", "--accuracy", str(path)], capture_output=True, text=True,
                       timeout=300)  # a FIFO read would never return
    assert r.returncode == 2
    assert_one_line(r.stderr, "pick", {"fifo": "a FIFO (named pipe), not a file", "folder": "a folder, not a file",
                                       "device": "a character device, not a file"}[kind])


def test_pick_reads_a_learning_json_whose_rows_have_no_seed():
    """learn writes no seed when it ran one (its default, 0); pick's table groups by seed."""
    rows, _ = pick.load_accuracy(REPO / "docs" / "learn" / "n" / "learning.json")
    pts = pick.candidates(rows, None, None)
    assert pts and all(p["seeds"] == [0] for p in pts)


# --- configs named by the file: built only when named on the command line, and only as data ------------------

def _evil_cfg(tmp_path: Path) -> Path:
    d = yaml.safe_load(OUR_CFG.read_text())
    d["activation"] = f"__import__('pathlib').Path(r'{tmp_path / MARKER}').touch()"
    f = tmp_path / "custom.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


def test_pick_does_not_build_a_config_file_only_the_accuracy_file_names(yolo_root, tmp_path, capsys):
    evil = _evil_cfg(tmp_path)
    code, out, err = call(capsys, "pick", "--budget-ms", "100", "--accuracy", _table(tmp_path, _row(cfg=str(evil))))
    assert code == 2, (out, err)
    assert_one_line(err, "pick", "none of its configs is ours or the host's, and none was named with --configs")
    assert f"skip {evil}: a config file only --accuracy names; to build it, name it too: --configs {evil}" in out
    assert not (tmp_path / MARKER).exists(), "the config's payload ran"


def test_pick_checks_a_config_file_named_with_configs_as_data_before_timing(yolo_root, tmp_path, capsys):
    evil = _evil_cfg(tmp_path)
    table = _table(tmp_path, _row(cfg=str(evil)))
    code, out, err = call(capsys, "pick", "--budget-ms", "100", "--accuracy", table, "--configs", evil)
    assert code == 2, (out, err)
    assert_one_line(err, "pick", f"model config {evil}: activation \"__import__('pathlib')")
    assert "timing" not in out and not (tmp_path / MARKER).exists(), "the config's payload ran"
