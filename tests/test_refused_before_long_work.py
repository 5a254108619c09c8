"""learn and vendor refuse what would fail only after minutes of work, first: an --out or --workdir that is (or
lies under) a file before any data is made, a --sha256 that is not 64 hex digits before any download."""

from __future__ import annotations

import pytest

from yolov5_shuffle import cli
from yolov5_shuffle.measure import learning


def _refused(capsys, code: int, command: str, fragment: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith(f"yolov5-shuffle {command}: "), err
    assert fragment in err and "Traceback" not in err, err


def _no_work(*_a, **_k):
    raise AssertionError("the refusal must come before this work")


def test_learn_refuses_an_out_below_a_file_before_making_data(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "table.md"
    blocker.write_text("mine\n")
    monkeypatch.setattr(learning, "make_dataset", _no_work)
    code = cli.main(["learn", "--workdir", str(tmp_path / "work"), "--cfgs", "yolov5n-shufflenetv2.yaml",
                     "--epochs", "1", "--out", str(blocker / "results")])
    _refused(capsys, code, "learn", "--out")
    assert blocker.read_text() == "mine\n" and not (tmp_path / "work").exists()


def test_learn_names_workdir_when_it_is_a_file(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "work"
    blocker.write_text("mine\n")
    monkeypatch.setattr(learning, "make_dataset", _no_work)
    code = cli.main(["learn", "--workdir", str(blocker), "--cfgs", "yolov5n-shufflenetv2.yaml", "--epochs", "1"])
    _refused(capsys, code, "learn", f"--workdir {blocker}")
    assert blocker.read_text() == "mine\n"


@pytest.mark.parametrize("sha", ["abc", "g" * 64, "0" * 63])
def test_vendor_refuses_a_sha256_that_is_not_64_hex_digits_before_a_download(tmp_path, capsys, sha):
    code = cli.main(["vendor", "--version", "7.0.13", "--sha256", sha, "--dest", str(tmp_path / "yolov5"), "--no-pth"])
    _refused(capsys, code, "vendor", "--sha256")
    assert not (tmp_path / "yolov5").exists()
