"""Adding a runtime is adding one file: a toy runtime (TorchScript) in a module of its own, put on the
registry's search path from a temporary folder, is reached by `export`, by `detect` with its artefact, by
`bench` and by `pick`, with no other file changed; so is a toy PyTorch-side runtime (the model in float64, in
memory), which `bench` and `pick` offer and `export` does not."""

from __future__ import annotations

import argparse
import importlib
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

TOY_TORCH = '''
"""A toy PyTorch-side runtime for the registry test: the model in float64, run in memory."""
import copy

from yolov5_shuffle.deploy.runtimes.pytorch import PyTorch


class ToyDouble(PyTorch):
    name = "toy_double"
    summary = "PyTorch in float64 (test only)"
    order = 0  # before eager: nothing may depend on the registry's order
    batches = (1, 2)

    def peak_memory_mib(self, runners):
        return {k: 7.0 for k in runners}

    def prepare(self, model, imgsz, batch):
        return copy.deepcopy(model).double()

    def feed(self, x):
        return super().feed(x).double()


RUNTIME = ToyDouble()
'''


def _register(tmp_path, monkeypatch, module: str, source: str):
    folder = tmp_path / f"more_runtimes_{module}"
    folder.mkdir()
    (folder / f"{module}.py").write_text(source)
    monkeypatch.setattr(runtimes, "__path__", [*runtimes.__path__, str(folder)])
    runtimes.all_runtimes.cache_clear()


def _registered(tmp_path, monkeypatch, name: str, source: str):
    """The toy runtime ``name`` (module text ``source``) in the registry for one test, gone after it."""
    _register(tmp_path, monkeypatch, name, source)
    yield runtimes.by_name(name)
    runtimes.all_runtimes.cache_clear()
    sys.modules.pop(f"{runtimes.__name__}.{name}", None)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    yield from _registered(tmp_path, monkeypatch, "toy_torchscript", TOY)


@pytest.fixture
def toy_torch(tmp_path, monkeypatch):
    yield from _registered(tmp_path, monkeypatch, "toy_double", TOY_TORCH)


def _parser(command: str):
    p = argparse.ArgumentParser()
    p.exit_on_error = False
    importlib.import_module(f"yolov5_shuffle.commands.{command}").add_arguments(p)
    return p


def _accepts(command: str, *argv: str) -> bool:
    """Whether ``command``'s parser takes ``argv`` (a choice it does not offer is refused)."""
    try:
        _parser(command).parse_args(list(argv))
    except (argparse.ArgumentError, SystemExit):
        return False
    return True


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


def test_bench_and_pick_reach_a_new_runtime(toy):
    from yolov5_shuffle.measure import bench, pick

    asked = _parser("bench").parse_args(["--runtimes", "eager", "toy_torchscript"]).runtimes
    assert asked == ["eager", "toy_torchscript"]
    assert _accepts("pick", "--budget-ms", "9", "--runtimes", "toy_torchscript")
    assert _accepts("export", "--weights", "best.pt", "--to", "toy_torchscript")
    assert "toy_torchscript" in pick.default_runtimes()  # fp32, so pick times it unless told otherwise
    assert bench.installed_runtimes(["toy_torchscript"]) == ["toy_torchscript"]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1)).eval()
    y = bench.make_runner("toy_torchscript", model, 32, 1)()
    assert np.asarray(y).shape == (1, 4, 16, 16)


def test_a_pytorch_side_runtime_in_a_new_module_reaches_bench_and_pick_but_not_export(toy_torch):
    from yolov5_shuffle.deploy.export import choose_runtimes
    from yolov5_shuffle.errors import UserError
    from yolov5_shuffle.measure import bench, pick

    assert not toy_torch.exportable and toy_torch not in runtimes.exportable()
    assert _accepts("bench", "--runtimes", "toy_double")
    assert _accepts("pick", "--budget-ms", "9", "--runtimes", "toy_double")
    assert not _accepts("export", "--weights", "best.pt", "--to", "toy_double")
    with pytest.raises(UserError, match="--to toy_double: runs the PyTorch model in memory"):
        choose_runtimes(["toy_double"])
    assert pick.default_runtimes()[0] == "toy_double" and "eager" in pick.default_runtimes()
    assert bench.installed_runtimes(["toy_double"]) == ["toy_double"]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1)).eval()
    y = bench.make_runner("toy_double", model, 32, 1)()
    assert y.dtype == torch.float64 and y.shape == (1, 4, 16, 16)  # its own prepare and feed ran


def test_bench_times_a_runtime_at_each_of_its_batches_with_its_own_memory(toy_torch, tmp_path, monkeypatch):
    from yolov5_shuffle.measure import bench

    models = {c: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1)).eval() for c in bench.BASELINES}
    rows = bench.time_runtime("toy_double", models, 32, 1, None, reps=2, warmup=0, mem={c: 1.0 for c in models},
                              flops={c: 0.1 for c in models})
    assert sorted((r["cfg"], r["runtime"], r["batch"]) for r in rows) == sorted(
        (c, "toy_double", b) for c in bench.BASELINES for b in (1, 2))
    assert all(r["peak_mib"] == 7.0 for r in rows)  # the runtime's own measure, not the process's
    assert "| yolov5n.yaml | 32 | toy_double b2 |" in bench.markdown_table(rows)
    panels = []
    monkeypatch.setattr(bench, "_panel", lambda ax, pts, xlabel, ylabel, title: panels.append(title))
    (png,) = bench.plot(rows, tmp_path)
    assert png.name == "latency_32.png" and sorted(set(panels)) == ["toy_double b2, 32 px", "toy_double, 32 px"]


def test_pytorch_modes_are_runtimes_that_own_no_file(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"x")
    assert {"eager", "channels_last", "compile", "cuda"} <= set(runtimes.names())
    assert not any(rt.exportable for rt in runtimes.all_runtimes() if rt.name in ("eager", "cuda"))
    assert runtimes.for_artefact(tmp_path / "best.pt") is None
    assert not _accepts("export", "--weights", "best.pt", "--to", "eager")


def test_a_gpu_runtime_stays_out_of_the_accuracy_front_whatever_its_name(toy_torch, monkeypatch):
    """The yardstick's front compares CPU fp32 latencies: the runtime's attributes decide, not its name."""
    from yolov5_shuffle.measure import yardstick_report

    rows = [{"cfg": "yolov5n.yaml", "imgsz": 320, "runtime": rt, "batch": 1, "median_ms": ms}
            for rt, ms in (("toy_double", 1.0), ("onnxruntime_int8", 2.0), ("cuda fp16 b1", 0.5), ("openvino", 9.0))]
    assert yardstick_report.best_latency({"rows": rows})[("yolov5n.yaml", 320)] == (1.0, "toy_double")
    monkeypatch.setattr(toy_torch, "gpu", True)
    assert yardstick_report.best_latency({"rows": rows}) == {("yolov5n.yaml", 320): (9.0, "openvino")}
