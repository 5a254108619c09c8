"""Issue 20's defects in `export`, exported-model `detect` and bench's exports, each shown by a case that
failed before its fix: folders that hold one checkpoint at one size, interrupted and killed exports rolled
back or cleaned, nothing left in $TMPDIR, foreign layouts and sizes refused in one line before any folder
is made, broken ncnn weights refused without a crash, calibration checked before the first export, and
every failure naming what it is about. (bench's temporary files: tests/test_bench.py.)"""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from conftest import IMGSZ, run_cli
from yolov5_shuffle import cli
from yolov5_shuffle import outputs as files
from yolov5_shuffle.deploy import runtimes
from yolov5_shuffle.deploy.runtimes.base import Runtime


def _one_line_error(capsys, code, want: str, exit_code: int = 2):
    err = capsys.readouterr().err.strip()
    assert code == exit_code and want in err and len(err.splitlines()) == 1, (code, err)
    assert err.startswith("yolov5-shuffle ")


def _export(trained, out, *extra):
    return cli.main(["export", "--weights", str(trained / "weights" / "best.pt"), "--imgsz", str(IMGSZ),
                     "--threads", "1", "--out", str(out), *map(str, extra)])


@pytest.fixture(scope="module")
def onnx_export(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "exports"
    assert _export(trained, out, "--to", "onnxruntime") == 0
    return out


# --- one checkpoint at one size per folder -----------------------------------------------------------

def test_export_refuses_a_folder_holding_another_size(onnx_export, trained, tmp_path, capsys):
    before = (onnx_export / "metadata.yaml").read_text()
    code = cli.main(["export", "--weights", str(trained / "weights" / "best.pt"), "--imgsz", str(IMGSZ + 32),
                     "--to", "onnxruntime", "--out", str(onnx_export)])
    _one_line_error(capsys, code, "a folder holds one checkpoint at one size")
    assert (onnx_export / "metadata.yaml").read_text() == before  # the first artefact keeps its metadata


def test_export_refuses_a_folder_holding_another_checkpoint(onnx_export, trained, tmp_path, capsys):
    import shutil

    out = tmp_path / "x"
    shutil.copytree(onnx_export, out)
    meta = yaml.safe_load((out / "metadata.yaml").read_text())
    meta.update(weights="/elsewhere/best.pt", weights_sha256="0" * 64)  # another checkpoint's exports
    (out / "metadata.yaml").write_text(yaml.safe_dump(meta))
    _one_line_error(capsys, _export(trained, out, "--to", "onnxruntime"), "holds the exports of /elsewhere/best.pt")


def test_export_refuses_a_folder_holding_exports_without_metadata(tmp_path, trained, capsys):
    (tmp_path / "yolo11n.onnx").write_bytes(b"x")
    _one_line_error(capsys, _export(trained, tmp_path, "--to", "onnxruntime"), "with no metadata.yaml")


def test_a_second_export_of_the_same_checkpoint_and_size_adds_its_row(trained, tmp_path, capsys):
    out = tmp_path / "x"
    assert _export(trained, out, "--to", "onnxruntime") == 0
    assert _export(trained, out, "--to", "openvino") == 0
    report = json.loads((out / "export.json").read_text())
    assert sorted(r["runtime"] for r in report["exports"]) == ["onnxruntime", "openvino"]


# --- interrupted, killed, failed -----------------------------------------------------------------------

def test_export_interrupted_after_its_first_artefact_rolls_back_a_new_folder(trained, tmp_path, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runtimes.by_name("onnxruntime"), "check", interrupted)  # after best.onnx is in place
    assert _export(trained, tmp_path / "new" / "out", "--to", "onnxruntime") == 130
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert _export(trained, mine, "--to", "onnxruntime") == 130
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_killed_exports_hidden_folders_are_removed_by_the_next_run(trained, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "x"
    out.mkdir()
    stale = out / f".best-openvino-{dead.pid}-abc12345"
    stale.mkdir()
    (stale / "best.onnx").write_bytes(b"half")
    (out / f".metadata.yaml-{dead.pid}-abcdef12.tmp").write_text("half")
    running = out / ".best-ncnn-1-abc12345"  # pid 1 is alive: another run's, left alone
    running.mkdir()
    assert _export(trained, out, "--to", "onnxruntime") == 0
    assert not stale.exists() and not (out / f".metadata.yaml-{dead.pid}-abcdef12.tmp").exists()
    assert running.exists()


def test_one_runtime_failing_keeps_the_others_and_the_report(trained, tmp_path, monkeypatch, capsys):
    def broken(*a, **k):
        raise RuntimeError("converter crashed\nwith details")

    monkeypatch.setattr(runtimes.by_name("openvino"), "build", broken)
    code = _export(trained, tmp_path / "x", "--to", "onnxruntime", "openvino")
    _one_line_error(capsys, code, "openvino: failed")
    rows = {r["runtime"]: r for r in json.loads((tmp_path / "x" / "export.json").read_text())["exports"]}
    assert rows["onnxruntime"]["ok"] and (tmp_path / "x" / "best.onnx").is_file()
    assert not rows["openvino"]["ok"] and "converter crashed" in rows["openvino"]["error"]
    assert "FAILED: export failed: converter crashed" in (tmp_path / "x" / "export.md").read_text()


def test_export_with_no_runtime_installed_names_the_packages_and_fails(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Runtime, "available", lambda self: (False, f"not installed (pip install {self.pip()})"))
    code = _export(trained, tmp_path / "x")
    err = capsys.readouterr()
    assert code == 2 and "nothing to export" in err.err and len(err.err.strip().splitlines()) == 1
    for pip in ("pip install onnx onnxruntime", "pip install onnx openvino", "pip install ncnn pnnx"):
        assert pip in err.err and pip in err.out  # a skip line each, and the summary
    assert not (tmp_path / "x").exists()


def test_a_full_disk_names_the_path_and_rolls_back(trained, tmp_path, monkeypatch, capsys):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runtimes.by_name("onnxruntime"), "build", full)
    code = _export(trained, tmp_path / "x", "--to", "onnxruntime")
    _one_line_error(capsys, code, f"{tmp_path / 'x' / 'best.onnx'}: cannot write it: No space left on device")
    assert not (tmp_path / "x").exists()


def test_a_full_disk_while_writing_a_file_names_that_file(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(files.UserError, match=f"{tmp_path / 'metadata.yaml'}: cannot write it: No space"):
        files.write_atomically(tmp_path / "metadata.yaml", "imgsz: 128\n")
    assert list(tmp_path.iterdir()) == []


# --- calibration ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["empty", "junk"])
def test_export_refuses_bad_calibration_images_before_any_export(trained, tmp_path, capsys, kind):
    calib = tmp_path / "calib"
    calib.mkdir()
    if kind == "junk":
        (calib / "a.jpg").write_text("not a picture")
    code = _export(trained, tmp_path / "x", "--to", "onnxruntime", "onnxruntime_int8", "--calib", calib)
    _one_line_error(capsys, code, f"--calib {calib}:" if kind == "empty" else f"{calib / 'a.jpg'}: not a readable image")
    assert not (tmp_path / "x").exists()


def test_int8_check_says_why_a_large_box_difference_is_fine():
    int8 = runtimes.by_name("onnxruntime_int8")
    rng = np.random.default_rng(0)
    ref = np.concatenate([rng.uniform(0, 128, (1, 50, 4)), rng.uniform(0, 1, (1, 50, 6))], -1)
    y = ref.copy()
    y[..., :4] += 85.3  # boxes far off, scores equal
    r = int8.check(y, ref)
    assert r["ok"] and "judged by its scores" in r["check"] and "85.3 px" in r["check"]
    y[..., 4] = 1 - ref[..., 4]  # scores wrong
    assert not int8.check(y, ref)["ok"]


# --- exported models in detect ------------------------------------------------------------------------

class UltralyticsLayout(nn.Module):
    """An output shaped like YOLO11n's: (1, 4 + nc, N), channels first, no objectness."""

    def forward(self, x):
        return x.mean((1, 2, 3)).view(1, 1, 1).expand(1, 84, 336) * 0 + 0.9


class YOLOv5Layout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3 * 9, 1)

    def forward(self, x):
        y = self.conv(nn.functional.avg_pool2d(x, 8))
        return (y.view(1, 3, 9, -1).permute(0, 1, 3, 2).reshape(1, -1, 9).sigmoid() * 64,)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    import cv2

    f = tmp_path_factory.mktemp("img") / "a.jpg"
    cv2.imwrite(str(f), np.full((48, 64, 3), 128, np.uint8))
    return f


def _bare_onnx(model, tmp_path, name, imgsz=64):
    return runtimes.by_name("onnxruntime").export(model.eval(), imgsz, tmp_path, name=name)  # no metadata.yaml


def test_detect_refuses_an_ultralytics_layout_onnx_without_metadata(tmp_path, image, capsys):
    f = _bare_onnx(UltralyticsLayout(), tmp_path, "yolo11n")
    code = cli.main(["detect", "--weights", str(f), "--imgsz", "64", "--source", str(image),
                     "--project", str(tmp_path / "runs")])
    _one_line_error(capsys, code, "ultralytics' layout (1, 4 + nc, N)")
    assert not (tmp_path / "runs").exists()


def test_detect_refuses_a_wrong_imgsz_for_an_onnx_without_metadata(tmp_path, image, capsys):
    torch.manual_seed(0)
    f = _bare_onnx(YOLOv5Layout(), tmp_path, "m")
    code = cli.main(["detect", "--weights", str(f), "--imgsz", "128", "--source", str(image),
                     "--project", str(tmp_path / "runs")])
    _one_line_error(capsys, code, "--imgsz 128: onnxruntime m.onnx cannot run it at 128 px")
    assert not (tmp_path / "runs").exists()
    assert cli.main(["detect", "--weights", str(f), "--imgsz", "64", "--source", str(image),
                     "--project", str(tmp_path / "runs")]) == 0


def test_a_failing_exported_detect_leaves_no_empty_project_folder(tmp_path, image, monkeypatch, capsys):
    from yolov5_shuffle.deploy import exported

    f = _bare_onnx(YOLOv5Layout(), tmp_path, "m")
    calls = []

    def fails_after_the_probe(self, *a, **k):
        calls.append(1)
        raise RuntimeError("runtime crashed")

    monkeypatch.setattr(exported.Detector, "__call__", fails_after_the_probe)
    code = cli.main(["detect", "--weights", str(f), "--imgsz", "64", "--source", str(image),
                     "--project", str(tmp_path / "new" / "runs")])
    assert code == 3 and calls and not (tmp_path / "new").exists()


@pytest.fixture(scope="module")
def ncnn_export(tmp_path_factory):
    ok, why = runtimes.available("ncnn")
    if not ok:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("ncnn")
    torch.manual_seed(0)
    d = runtimes.by_name("ncnn").export(YOLOv5Layout().eval(), 64, out, name="m")
    (out / "metadata.yaml").write_text(yaml.safe_dump({"imgsz": 64, "names": {0: "a", 1: "b", 2: "c", 3: "d"}}))
    return d


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_detect_refuses_broken_ncnn_weights_without_crashing(ncnn_export, tmp_path, image, damage):
    import shutil

    d = tmp_path / "m_ncnn"
    shutil.copytree(ncnn_export, d)
    shutil.copy(ncnn_export.parent / "metadata.yaml", tmp_path)
    b = d / "m.ncnn.bin"
    if damage == "truncated":
        b.write_bytes(b.read_bytes()[:100])
    else:
        b.unlink()
    r = run_cli("detect", "--weights", d, "--source", image, "--project", tmp_path / "runs")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (r.returncode, r.stderr[-2000:])
    assert "m.ncnn.bin" in r.stderr and not (tmp_path / "runs").exists()


def test_ncnn_export_works_with_relative_paths(tmp_path, monkeypatch):
    ok, why = runtimes.available("ncnn")
    if not ok:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    d = runtimes.by_name("ncnn").export(YOLOv5Layout().eval(), 64, "rel/out", name="m")
    assert (tmp_path / "rel" / "out" / "m_ncnn" / "m.ncnn.bin").is_file() and d.is_absolute()


def test_export_command_to_ncnn_with_relative_weights_and_out(trained, tmp_path, monkeypatch, capsys):
    import os

    ok, why = runtimes.available("ncnn")
    if not ok:
        pytest.skip(why)
    monkeypatch.chdir(trained / "weights")
    out = os.path.relpath(tmp_path / "x")  # the README's form: paths relative to where the user stands
    code = cli.main(["export", "--weights", "best.pt", "--imgsz", str(IMGSZ), "--to", "ncnn", "--threads", "1",
                     "--out", out])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "x" / "best_ncnn" / "best.ncnn.bin").is_file()


def test_pnnx_failure_shows_its_cause_on_the_first_line(tmp_path, monkeypatch):
    ok, why = runtimes.available("ncnn")
    if not ok:
        pytest.skip(why)
    from yolov5_shuffle.deploy.runtimes import ncnn

    def pnnx(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 255, "pnnxparam = model.pnnx.param\ninputshape = [1,3,64,64]\n",
                                           "\nload torchscript failed: unsupported op foo::bar\n")

    monkeypatch.setattr(ncnn.subprocess, "run", pnnx)
    with pytest.raises(RuntimeError) as e:
        runtimes.by_name("ncnn").export(YOLOv5Layout().eval(), 64, tmp_path, name="m")
    assert "unsupported op foo::bar" in str(e.value).splitlines()[0]



@pytest.mark.parametrize("imgsz, shape, ours", [(640, (1, 84, 8400), False), (640, (1, 25200, 85), True),
                                                (32, (1, 63, 85), True), (32, (1, 84, 21), False)])
def test_the_layout_of_an_output_without_class_names_is_told_by_its_shape(imgsz, shape, ours):
    from yolov5_shuffle.deploy.exported import Detector, ExportError

    det = Detector(lambda x: np.zeros(shape, np.float32), imgsz, label="onnxruntime m")
    if ours:
        det.check_layout(np.zeros(shape, np.float32))
    else:
        with pytest.raises(ExportError, match="ultralytics' layout"):
            det.check_layout(np.zeros(shape, np.float32))
