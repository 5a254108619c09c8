"""Issue 20 item 7, red team round 3: the new commands and options tried as a careless or hostile user would.
Each test is a defect that round found (it failed before its fix); the probes that held are listed in
docs/errors.md ("Red team, round 3"). All fast: YOLOv5, timing and training replaced where the refusal must
come before them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_cli
from yolov5_shuffle import cli
from yolov5_shuffle import outputs as files
from yolov5_shuffle.measure import bench, learning


def _refused(capsys, code: int, command: str, fragment: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith(f"yolov5-shuffle {command}: "), err
    assert fragment in err and "Traceback" not in err, err
    return err


def _no_work(*_a, **_k):
    raise AssertionError("the refusal must come before this work")


# --- bench: inputs that were only read after minutes of timing ------------------------------------------------

@pytest.mark.parametrize("content", [None, "not json", json.dumps({"no": "rows"}), json.dumps({"rows": [1, 2]})])
def test_bench_refuses_an_accuracy_file_that_is_not_a_learning_json_before_timing(tmp_path, monkeypatch, capsys,
                                                                                  content):
    acc = tmp_path / "learning.json"
    if content is not None:
        acc.write_text(content)
    monkeypatch.setattr(bench, "build_models", _no_work)
    out = tmp_path / "bench"
    code = cli.main(["bench", "--quick", "--runtimes", "eager", "--accuracy", str(acc), "--out", str(out)])
    _refused(capsys, code, "bench", f"--accuracy {acc}")
    assert not out.exists()


def test_bench_refuses_runtimes_cuda_without_a_cuda_device(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(bench, "build_models", _no_work)
    code = cli.main(["bench", "--quick", "--runtimes", "cuda", "--out", str(tmp_path / "bench")])
    _refused(capsys, code, "bench", "--runtimes cuda")
    assert not (tmp_path / "bench").exists()


# --- learn: an --out or --workdir under a file, found only after every config had trained ----------------------

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


# --- vendor: a mistyped hash was only compared after a download ----------------------------------------------

@pytest.mark.parametrize("sha", ["abc", "g" * 64, "0" * 63])
def test_vendor_refuses_a_sha256_that_is_not_64_hex_digits_before_a_download(tmp_path, capsys, sha):
    code = cli.main(["vendor", "--version", "7.0.13", "--sha256", sha, "--dest", str(tmp_path / "yolov5"), "--no-pth"])
    _refused(capsys, code, "vendor", "--sha256")
    assert not (tmp_path / "yolov5").exists()


# --- export: two runs into one folder at once --------------------------------------------------------------

def test_export_refuses_a_folder_another_export_is_writing_into(tmp_path, monkeypatch, capsys):
    import yolov5_shuffle.hosts as hosts

    weights = tmp_path / "best.pt"
    weights.write_bytes(b"stands in for a checkpoint: load_checkpoint is replaced")
    monkeypatch.setattr(hosts, "load_checkpoint", lambda path: (object(), ["a"], 32))
    out = tmp_path / "exports"
    with files.exclusive(out):  # another export holds the folder
        code = cli.main(["export", "--weights", str(weights), "--to", "onnxruntime", "--imgsz", "64", "--out", str(out)])
    _refused(capsys, code, "export", f"--out {out}: another run is writing into it")
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


# --- the yolo route: ultralytics' own checks raised as internal errors ------------------------------------------

def _yolo(tmp_path, *args):
    env = {"YOLO_CONFIG_DIR": str(tmp_path / "cfg"), "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}
    return run_cli("yolo", *args, env=env, cwd=tmp_path)


@pytest.mark.parametrize("value", ["big", "[64,x]"])
def test_yolo_refuses_a_non_numeric_imgsz_before_a_run_folder(tmp_path, data, value):
    r = _yolo(tmp_path, "train", "model=yolo11n-shufflenetv2.yaml", f"data={data}", "epochs=1", f"imgsz={value}",
              f"project={tmp_path / 'runs'}")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and f"imgsz={value}" in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()


def test_yolo_refuses_a_mistyped_mode_in_one_line(tmp_path):
    r = _yolo(tmp_path, "trian", "model=yolo11n-shufflenetv2.yaml")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith("yolov5-shuffle yolo: 'trian'") and len(r.stderr.strip().splitlines()) == 1


# --- a full disk: the path that could not be written, not "[Errno 28]" or a missing temporary name ---------------

def test_dataset_names_its_folder_on_a_full_disk_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from yolov5_shuffle import dataset

    monkeypatch.setattr(dataset.cv2, "imwrite", lambda *a, **k: False)  # what OpenCV does on a full disk
    out = tmp_path / "ds"
    code = cli.main(["dataset", "--out", str(out), "--train", "2", "--val", "1", "--imgsz", "64"])
    _refused(capsys, code, "dataset", f"{out}: cannot write it")
    assert list(tmp_path.iterdir()) == []


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


# --- export's report: a hostile folder, and a report that fails half-way ----------------------------------------

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
    real = export_run.write_atomically

    def full_on_json(path, text):
        if path.name == export_run.REPORT_JSON:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(export_run, "write_atomically", full_on_json)
    run = export_job.ExportJob(None, {"imgsz": 64, "weights_sha256": "0" * 64}, out, "best", 1, lambda line: None)
    run.created.append(artefact)
    row = {"runtime": "onnxruntime", "path": str(artefact), "ok": True, "max_abs_diff": 0.0, "check": "ok"}
    with pytest.raises(OSError):
        run.report([row], None, tmp_path / "best.pt")
    assert list(out.iterdir()) == []


# --- checkpoints: the scan must read the pickle torch will unpickle, not a decoy beside it ------------------------

def test_a_checkpoint_with_a_decoy_pickle_beside_the_real_one_is_refused(tmp_path):
    import pickle
    import zipfile

    from yolov5_shuffle.untrusted import checkpoint as checkpoints

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "decoy.pt"
    with zipfile.ZipFile(path, "w") as z:  # torch reads a/data.pkl (the first record's folder); a/x/ is the decoy
        z.writestr("a/version", "3\n")
        z.writestr("a/x/data.pkl", pickle.dumps({"epoch": 1}, protocol=2))
        z.writestr("a/data.pkl", pickle.dumps({"model": Payload()}, protocol=2))
    with pytest.raises(checkpoints.CheckpointRefused, match="2 data.pkl pickles"):
        checkpoints.check_calls(path)
    with pytest.raises(checkpoints.CheckpointRefused):
        checkpoints.load(path)
    assert not (tmp_path / "ran").exists()
