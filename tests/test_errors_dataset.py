"""dataset: bad sizes are refused in one line (on the command line and in the API), a full disk names the folder
and leaves nothing, and the dataset's yaml survives odd folder names."""

from __future__ import annotations

import pytest
import yaml

from errors_support import Case, call, case_ids, check_input_case, debris
from yolov5_shuffle import cli
from yolov5_shuffle.data.files import check_data_yaml
from yolov5_shuffle.dataset import make_dataset

REFUSED = [
    Case("dataset-imgsz-above-2048", lambda w: ["dataset", "--out", "ds", "--imgsz", "100000"], 2,
         "argument --imgsz: must be a multiple of 32 from 64 to 2048"),
    Case("dataset-imgsz-not-a-number", lambda w: ["dataset", "--out", "ds", "--imgsz", "big"], 2,
         "argument --imgsz: expected a whole number, got 'big'"),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_dataset_refuses_bad_input_in_one_line_leaving_nothing(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


def test_make_dataset_refuses_images_above_2048_px_in_the_api_too(tmp_path):
    from yolov5_shuffle.dataset import DatasetError

    with pytest.raises(DatasetError, match="from 64 to 2048"):
        make_dataset(tmp_path / "d", imgsz=100000)
    assert not (tmp_path / "d").exists()


def test_dataset_names_its_folder_on_a_full_disk_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from yolov5_shuffle import dataset

    monkeypatch.setattr(dataset.cv2, "imwrite", lambda *a, **k: False)  # what OpenCV does on a full disk
    out = tmp_path / "ds"
    code = cli.main(["dataset", "--out", str(out), "--train", "2", "--val", "1", "--imgsz", "64"])
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("yolov5-shuffle dataset: "), err
    assert f"{out}: cannot write it" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


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
