"""bench: bad numbers, an --out that is a file, an accuracy file that is not a learning.json and a runtime this
machine cannot run are refused in one line, exit 2, before any timing, leaving nothing behind."""

from __future__ import annotations

import json

import pytest

from errors_support import Case, case_ids, check_input_case
from yolov5_shuffle import cli
from yolov5_shuffle.measure import bench


def _existing_file(w):
    (w / "bench.out").write_text("my notes\n")
    return w / "bench.out"


REFUSED = [
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
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_bench_refuses_bad_input_in_one_line_leaving_nothing(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


def _refused(capsys, code: int, fragment: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("yolov5-shuffle bench: "), err
    assert fragment in err and "Traceback" not in err, err


def _no_work(*_a, **_k):
    raise AssertionError("the refusal must come before this work")


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"no": "rows"}), json.dumps({"rows": [1, 2]})])
def test_bench_refuses_an_accuracy_file_that_is_not_a_learning_json_before_timing(tmp_path, monkeypatch, capsys,
                                                                                  content):
    acc = tmp_path / "learning.json"
    if content is not None:
        acc.write_text(content)
    monkeypatch.setattr(bench, "build_models", _no_work)
    out = tmp_path / "bench"
    code = cli.main(["bench", "--quick", "--runtimes", "eager", "--accuracy", str(acc), "--out", str(out)])
    _refused(capsys, code, f"--accuracy {acc}")
    assert not out.exists()


def test_bench_refuses_runtimes_cuda_without_a_cuda_device(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(bench, "build_models", _no_work)
    code = cli.main(["bench", "--quick", "--runtimes", "cuda", "--out", str(tmp_path / "bench")])
    _refused(capsys, code, "--runtimes cuda")
    assert not (tmp_path / "bench").exists()
