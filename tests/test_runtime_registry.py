"""Adding a deploy runtime is adding one file: a toy runtime (TorchScript) in a module of its own, put on the
registry's search path from a temporary folder, is reached by `export`, by `detect` with its artefact and by
`bench`, with no other file changed."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from conftest import IMGSZ
from yolov5_shuffle import cli
from yolov5_shuffle.deploy import runtimes

TOY = '''
"""A toy runtime for the registry test: TorchScript, traced and run by torch."""
from yolov5_shuffle.deploy.runtimes.base import Runtime


class ToyTorchScript(Runtime):
    name = "toy_torchscript"
    artefact = "{name}.toyts"
    summary = "TorchScript (test only)"
    packages = (("torch", "torch"),)
    order = 99

    def build(self, model, imgsz, work, calib, name):
        import torch

        from yolov5_shuffle.deploy.onnx_base import prepared

        f = work / f"{name}.toyts"
        with torch.no_grad():
            torch.jit.trace(prepared(model), torch.zeros(1, 3, imgsz, imgsz), check_trace=False).save(str(f))
        return f

    def load(self, path, threads):
        import torch

        m = torch.jit.load(str(path))
        return lambda x: m(torch.from_numpy(x)).numpy()


RUNTIME = ToyTorchScript()
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    folder = tmp_path / "more_runtimes"
    folder.mkdir()
    (folder / "toy_torchscript.py").write_text(TOY)
    monkeypatch.setattr(runtimes, "__path__", [*runtimes.__path__, str(folder)])
    runtimes.all_runtimes.cache_clear()
    yield runtimes.by_name("toy_torchscript")
    runtimes.all_runtimes.cache_clear()
    sys.modules.pop(f"{runtimes.__name__}.toy_torchscript", None)


def test_a_runtime_in_a_new_module_is_registered(toy):
    assert "toy_torchscript" in runtimes.names()
    assert runtimes.available("toy_torchscript")[0]
    assert runtimes.for_artefact(runtimes.__path__[0] + "/m.toyts") is toy


def test_export_and_detect_reach_a_new_runtime(toy, trained, data, tmp_path, capsys):
    out = tmp_path / "exports"
    code = cli.main(["export", "--weights", str(trained / "weights" / "best.pt"), "--to", "toy_torchscript",
                     "--imgsz", str(IMGSZ), "--out", str(out), "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    assert (out / "best.toyts").is_file() and (out / "metadata.yaml").is_file()
    assert "| toy_torchscript | best.toyts |" in (out / "export.md").read_text()
    code = cli.main(["detect", "--weights", str(out / "best.toyts"), "--source", str(data.parent / "images" / "val"),
                     "--project", str(tmp_path / "runs"), "--name", "toy"])
    assert code == 0, capsys.readouterr().err
    assert "toy_torchscript best.toyts at 128 px" in capsys.readouterr().out
    assert len(list((tmp_path / "runs" / "toy").glob("*.jpg"))) == 4


def test_bench_reaches_a_new_runtime(toy):
    import argparse

    from yolov5_shuffle.commands import bench as command
    from yolov5_shuffle.measure import bench

    p = argparse.ArgumentParser()
    command.add_arguments(p)
    assert p.parse_args(["--runtimes", "eager", "toy_torchscript"]).runtimes == ["eager", "toy_torchscript"]
    assert bench.installed_runtimes(["toy_torchscript"]) == ["toy_torchscript"]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1)).eval()
    y = bench.make_runner("toy_torchscript", model, 32, 1)()
    assert np.asarray(y).shape == (1, 4, 16, 16)
