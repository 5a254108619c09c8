"""init-weights, bench and dataset: bad weights files, output paths and numbers are refused in one line, exit 2,
before any work, leaving nothing behind; the dataset's yaml survives odd folder names."""

from __future__ import annotations

import os

import pytest
import yaml

from errors_support import Case, call, case_ids, check_input_case, debris
from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.data.files import check_data_yaml


# --- input files and output paths ---------------------------------------------------------------------------

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


REFUSED = [
    Case("init-weights-random-bytes-as-torchvision-weights", _init_weights(tv=_junk), 2,
         "not a torchvision state dict: "),
    Case("init-weights-a-pickled-list-as-torchvision-weights", _init_weights(tv=_pickled_list), 2,
         "not a torchvision state dict: "),
    Case("init-weights-another-models-state-dict", _init_weights(tv=_other_state_dict), 2,
         "not a torchvision state dict: "),
    Case("init-weights-out-is-a-folder", _init_weights(setup_out=_existing_dir), 2, "is a folder; give a file"),
    Case("init-weights-nc-zero", _init_weights(extra=("--nc", "0")), 2,
         "argument --nc: must be >= 1 (number of classes), got 0"),
    Case("bench-imgsz-zero", lambda w: ["bench", "--imgsz", "0", "--out", "b"], 2,
         "argument --imgsz: must be a multiple of 32 from 32 to 4096"),
    Case("bench-imgsz-not-a-multiple-of-32", lambda w: ["bench", "--imgsz", "320", "33", "--out", "b"], 2,
         "argument --imgsz: must be a multiple of 32 from 32 to 4096 (YOLOv5's largest stride is 32), got 33"),
    Case("bench-reps-zero", lambda w: ["bench", "--reps", "0", "--out", "b"], 2,
         "argument --reps: must be >= 1 (timed rounds), got 0"),
    Case("bench-threads-zero", lambda w: ["bench", "--threads", "0", "--out", "b"], 2,
         "argument --threads: must be >= 1 (threads), got 0"),
    Case("bench-warmup-negative", lambda w: ["bench", "--warmup", "-1", "--out", "b"], 2,
         "argument --warmup: must be >= 0 (untimed runs), got -1"),
    Case("bench-out-is-a-file", lambda w: ["bench", "--quick", "--out", _existing_file(w)], 2,
         "is a file, not a folder; results would be lost"),
    Case("dataset-imgsz-above-2048", lambda w: ["dataset", "--out", "ds", "--imgsz", "100000"], 2,
         "argument --imgsz: must be a multiple of 32 from 64 to 2048"),
    Case("dataset-imgsz-not-a-number", lambda w: ["dataset", "--out", "ds", "--imgsz", "big"], 2,
         "argument --imgsz: expected a whole number, got 'big'"),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_init_weights_bench_and_dataset_refuse_bad_input_in_one_line_leaving_nothing(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


# --- the generated dataset ----------------------------------------------------------------------------------

ODD_NAMES = {"hash": "a #b", "colon-space": "c: d", "quotes": "e'f\"g", "dash-and-brackets": "h - [i]",
             "non-ascii-and-braces": "ü {j}"}


@pytest.mark.parametrize("name", list(ODD_NAMES.values()), ids=list(ODD_NAMES))
def test_dataset_yaml_quotes_odd_folder_names(tmp_path, capsys, name):
    out = tmp_path / name / "data"
    code, stdout, err = call(capsys, "dataset", "--out", out, "--train", 1, "--val", 1, "--imgsz", 64)
    assert code == 0, err
    d = yaml.safe_load((out / "data.yaml").read_text())
    assert d["path"] == str(out) and d["train"] == "images/train" and d["nc"] == 4 and len(d["names"]) == 4
    assert check_data_yaml(out / "data.yaml")["path"] == str(out)
    assert not debris(tmp_path) and [p.name for p in (tmp_path / name).iterdir()] == ["data"]


def test_make_dataset_refuses_images_above_2048_px_in_the_api_too(tmp_path):
    from yolov5_shuffle.dataset import DatasetError

    with pytest.raises(DatasetError, match="from 64 to 2048"):
        make_dataset(tmp_path / "d", imgsz=100000)
    assert not (tmp_path / "d").exists()
