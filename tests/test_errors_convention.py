"""One convention for every command: a user error is one line on stderr, exit 2, the traceback only with
--verbose (before or after the command); an internal error exits 3 and Ctrl-C 130, each in one line."""

from __future__ import annotations

from conftest import run_cli
from errors_support import assert_one_line, call


def test_user_error_is_one_line_exit_2_with_the_traceback_only_with_verbose(tmp_path):
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


def test_internal_error_exits_3_and_ctrl_c_exits_130_in_one_line(monkeypatch, capsys, tmp_path):
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
