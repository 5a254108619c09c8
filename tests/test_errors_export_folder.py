"""export's folder and the files it writes: a folder another export is writing into and a folder whose report
name is a folder are refused first; a report that fails half-way (a full disk) is rolled back with the exports;
exported-model detect names the image it cannot write; what export writes is readable by others."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yolov5_shuffle import cli
from yolov5_shuffle import outputs as files


def test_export_refuses_a_folder_another_export_is_writing_into(tmp_path, monkeypatch, capsys):
    import yolov5_shuffle.hosts as hosts

    weights = tmp_path / "best.pt"
    weights.write_bytes(b"stands in for a checkpoint: load_checkpoint is replaced")
    monkeypatch.setattr(hosts, "load_checkpoint", lambda path: (object(), ["a"], 32))
    out = tmp_path / "exports"
    with files.exclusive(out):  # another export holds the folder
        code = cli.main(["export", "--weights", str(weights), "--to", "onnxruntime", "--imgsz", "64", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("yolov5-shuffle export: "), err
    assert f"--out {out}: another run is writing into it" in err and "Traceback" not in err, err
    assert not out.exists()
    with files.exclusive(out):  # and the lock went with the run that held it
        pass


def test_export_reports_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        files.write_atomically(tmp_path / "metadata.yaml", "imgsz: 64\n")
    finally:
        os.umask(old)
    assert (tmp_path / "metadata.yaml").stat().st_mode & 0o777 == 0o644


def test_detect_drawing_names_the_image_it_cannot_write_on_a_full_disk(tmp_path, monkeypatch):
    import errno

    import numpy as np

    from yolov5_shuffle.deploy import exported
    from yolov5_shuffle.errors import UserError

    def full(self, data):
        Path(self).write_text("")  # a partial file, as a full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exported.Path, "write_bytes", full)
    with pytest.raises(UserError, match="val_0.jpg: cannot write it: No space left"):
        exported.write_image(tmp_path / "val_0.jpg", np.zeros((32, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_folder_whose_report_name_is_a_folder(tmp_path):
    from yolov5_shuffle.deploy.export import check_folder
    from yolov5_shuffle.errors import UserError

    (tmp_path / "export.json").mkdir()
    with pytest.raises(UserError, match="its export.json is not a file"):
        check_folder(tmp_path, {"weights": "w.pt", "weights_sha256": "0" * 64, "imgsz": 64})


def test_export_rolled_back_on_a_full_disk_leaves_no_report_of_its_exports(tmp_path, monkeypatch):
    import errno

    from yolov5_shuffle.deploy import export_job

    out = tmp_path / "exports"
    out.mkdir()  # the user's folder: it stays, what the run wrote goes
    artefact = out / "best.onnx"
    artefact.write_bytes(b"onnx")
    real = export_job.write_atomically

    def full_on_json(path, text):
        if path.name == export_job.REPORT_JSON:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(export_job, "write_atomically", full_on_json)
    run = export_job.ExportJob(None, {"imgsz": 64, "weights_sha256": "0" * 64}, out, "best", 1, lambda line: None)
    run.created.append(artefact)
    row = {"runtime": "onnxruntime", "path": str(artefact), "ok": True, "max_abs_diff": 0.0, "check": "ok"}
    with pytest.raises(OSError):
        run.report([row], None, tmp_path / "best.pt")
    assert list(out.iterdir()) == []
