"""Exit codes say whose the problem is: an OSError on a file or folder the user named is a one-line error naming
it (exit 2); an OSError anywhere else is a bug (exit 3, "internal error"), not blamed on the user. ``--version``
answers like any command-line tool."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from yolov5_shuffle import __version__, cli
from yolov5_shuffle.errors import UserError


def _deny(monkeypatch, method: str, path: Path) -> None:
    """``Path.<method>`` of ``path`` fails as on a file its owner keeps to himself (chmod is no use as root)."""
    real = getattr(Path, method)

    def denied(self, *a, **k):
        if Path(self) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, method, denied)


def test_version_prints_the_version_and_exits_0(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"yolov5-shuffle {__version__}"


def test_an_oserror_of_our_own_is_an_internal_error_not_the_users(tmp_path, monkeypatch, capsys):
    from yolov5_shuffle import dataset

    def bug(**_k):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/nonexistent/of/ours.json")

    monkeypatch.setattr(dataset, "make_dataset", bug)
    code = cli.main(["dataset", "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip()
    assert code == 3, err
    assert err.startswith("yolov5-shuffle dataset: internal error (FileNotFoundError") and len(err.splitlines()) == 1


def test_a_data_yaml_that_cannot_be_read_is_refused_naming_it(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data.yaml"
    data.write_text("train: images\nval: images\nnames: [a]\n")
    real_open = os.open

    def denied(path, *a, **k):  # as on a file its owner keeps to himself (chmod is no use as root)
        if Path(path) == data:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", denied)
    code = cli.main(["train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", str(data)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and str(data) in err and "permission denied" in err.lower(), err


def test_patch_refuses_a_tree_whose_sources_cannot_be_read(tmp_path, monkeypatch, capsys):
    (tmp_path / "models").mkdir()
    yolo = tmp_path / "models" / "yolo.py"
    yolo.write_text("def parse_model(" + "d, ch):\n    pass\n")  # a stand-in tree (split: not host source)
    (tmp_path / "models" / "common.py").write_text("")
    _deny(monkeypatch, "read_bytes", yolo)
    code = cli.main(["patch", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith(f"yolov5-shuffle patch: tree {tmp_path}: {yolo}: Permission denied"), err


def test_a_source_folder_that_cannot_be_listed_is_refused_naming_it(tmp_path, monkeypatch):
    from yolov5_shuffle.data.sources import readable_sources

    _deny(monkeypatch, "iterdir", tmp_path)
    with pytest.raises(UserError, match=f"source {tmp_path}: Permission denied"):
        readable_sources(tmp_path)
