"""Checkpoints cannot run code: a .pt whose pickle runs code under plain unpickling is refused by our commands
and by the vendored tree's own scripts (the ``torch_load_safe`` fix), while genuine checkpoints still load."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from yolov5_shuffle import hosts
from yolov5_shuffle.untrusted import checkpoint


class _Payload:
    """Unpickling this creates the file ``marker`` (open(marker, 'w')): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def payload(tmp_path):
    marker = tmp_path / "RAN"
    path = tmp_path / "payload.pt"
    torch.save({"model": _Payload(marker), "epoch": 1}, path)
    torch.load(path, weights_only=False)  # the file really runs code under plain unpickling ...
    assert marker.exists()
    marker.unlink()  # ... and every test below checks it did not run again
    return path, marker


def test_our_safe_load_refuses_a_payload_naming_the_call_and_the_way_out(payload):
    path, marker = payload
    with pytest.raises(checkpoint.CheckpointRefused, match="calls io.open.*YOLOV5_SHUFFLE_TRUST_CHECKPOINTS=1"):
        checkpoint.load(path)
    with pytest.raises(checkpoint.CheckpointRefused):
        hosts.load_checkpoint(path)  # what `export` loads with
    assert not marker.exists()


def test_a_class_may_be_created_but_not_called(tmp_path):
    """A host Model called with a dict would eval the dict's strings; genuine pickles only create objects."""
    data = pickle.dumps(torch.nn.Conv2d, protocol=2)[:-1] + b"(I3\nI4\nI1\ntR."  # GLOBAL Conv2d, (3, 4, 1), REDUCE
    path = tmp_path / "called.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", "3\n")
    with pytest.raises(checkpoint.CheckpointRefused, match="calls torch.nn.modules.conv.Conv2d"):
        checkpoint.load(path)
    torch.save({"conv": torch.nn.Conv2d(3, 4, 1)}, path)  # created by NEWOBJ, then given its state: loads
    assert isinstance(checkpoint.load(path)["conv"], torch.nn.Conv2d)


def test_trusting_a_file_is_explicit(payload, monkeypatch):
    path, marker = payload
    monkeypatch.setenv(checkpoint.TRUST_ENV, "1")
    checkpoint.load(path)
    assert marker.exists()


def test_detect_and_train_refuse_a_payload_in_one_line_before_the_script(payload, data, tmp_path):
    path, marker = payload
    for args in (("detect", "--weights", path, "--source", data.parent / "images" / "val"),
                 ("train", "--cfg", "yolov5n-shufflenetv2.yaml", "--data", data, "--weights", path, "--epochs", 1,
                  "--project", tmp_path / "runs")):
        r = run_cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and "refused: its pickle calls io.open" in r.stderr, r.stderr[-2000:]
        assert len(r.stderr.strip().splitlines()) == 1 and "$ " not in r.stdout
    assert not marker.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("script,args", [
    ("detect.py", ["--weights", "{w}", "--source", "{img}", "--imgsz", "128"]),
    ("val.py", ["--weights", "{w}", "--data", "{data}", "--imgsz", "128"]),
    ("train.py", ["--weights", "{w}", "--cfg", "yolov5n.yaml", "--data", "{data}", "--epochs", "1", "--imgsz", "64"]),
    ("train.py", ["--resume", "{w}"]),
    ("export.py", ["--weights", "{w}", "--include", "onnx", "--imgsz", "128"]),
])
def test_the_vendored_trees_own_scripts_refuse_a_payload(payload, yolo_root, data, tmp_path, script, args):
    path, marker = payload
    img = next((data.parent / "images" / "val").glob("*.jpg"))
    argv = [a.format(w=path, img=img, data=data) for a in args] + ["--project", str(tmp_path / "p")][:2 * (script != "export.py")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(yolo_root).parent),
                                                                      os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, script, *argv], cwd=yolo_root, capture_output=True, text=True, env=env,
                       timeout=600)
    assert not marker.exists(), f"{script} ran the payload"
    assert "refused: its pickle calls io.open" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]


def test_a_genuine_checkpoint_loads_safely_here_and_in_the_vendored_tree(trained):
    best = trained / "weights" / "best.pt"
    ckpt = hosts.read_checkpoint(best)
    assert type(ckpt["model"]).__name__ == "DetectionModel"
    model, names, stride = hosts.load_checkpoint(best)
    assert stride == 32 and names and model(torch.zeros(1, 3, 64, 64))[0].shape[-1] == 5 + len(names)
    assert hosts.host_for_checkpoint(best).name == "yolov5"


def test_junk_and_truncated_files_are_refused_in_one_line(tmp_path, trained):
    junk, cut = tmp_path / "junk.pt", tmp_path / "cut.pt"
    junk.write_bytes(b"not a checkpoint" * 10)
    raw = (trained / "weights" / "best.pt").read_bytes()
    cut.write_bytes(raw[:len(raw) // 2])
    for f in (junk, cut):
        with pytest.raises(checkpoint.CheckpointRefused, match="not a PyTorch checkpoint"):
            checkpoint.load(f)
