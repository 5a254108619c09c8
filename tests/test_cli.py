"""The command line is a table of commands: each has its own module (``add_arguments``, ``run``), answers
``--help`` without importing torch, and hands its core function keyword arguments, not the namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from yolov5_shuffle import cli

HEAVY = ("torch", "torchvision", "cv2", "numpy", "onnxruntime", "openvino", "matplotlib", "ultralytics")


def _subparsers(parser):
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_command_in_the_table_has_its_own_module_with_add_arguments_and_run():
    names = [name for name, _, _ in cli.COMMANDS]
    assert len(names) == len(set(names)), names
    parsers = _subparsers(cli.build_parser())
    assert list(parsers) == names  # --help lists the table, in its order
    for name, module, help_text in cli.COMMANDS:
        assert module.__name__ == f"yolov5_shuffle.commands.{name.replace('-', '_')}", (name, module.__name__)
        assert callable(module.add_arguments) and callable(module.run), name
        assert module.__doc__ and help_text, name
        assert parsers[name].get_default("func") is module.run, name


# One process answers every command's --help: exit 0, its own usage line, and no heavy module imported.
HELP_ALL = r'''
import contextlib, io, json, sys
from yolov5_shuffle import cli
heavy = json.loads(sys.argv[1])
out = {}
for name, _, _ in cli.COMMANDS:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main([name, "--help"])
    out[name] = [code, buf.getvalue().splitlines()[0] if buf.getvalue() else ""]
print(json.dumps({"help": out, "heavy": [m for m in heavy if m in sys.modules]}))
'''


def test_every_command_answers_help_without_importing_torch_or_opencv():
    r = subprocess.run([sys.executable, "-c", HELP_ALL, json.dumps(HEAVY)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(result["help"]) == {name for name, _, _ in cli.COMMANDS}
    for name, (code, usage) in result["help"].items():
        assert code == 0, (name, code)
        assert usage.startswith(f"usage: yolov5-shuffle {name} "), (name, usage)
    assert result["heavy"] == [], f"--help imported {result['heavy']}"


class Core:
    """Stands in for a core function: keyword arguments only (a positional call fails), recorded."""

    def __init__(self, returns=None):
        self.calls, self.returns = [], returns

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.returns


def _run(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


def test_vendor_dataset_and_init_weights_pass_their_options_by_name(monkeypatch, capsys, tmp_path):
    from yolov5_shuffle import dataset, weights
    from yolov5_shuffle.patching import vendor

    monkeypatch.setattr(vendor, "vendor", Core(tmp_path / "tree"))
    _, out = _run(capsys, "vendor", "--from", tmp_path / "src.tar.gz", "--no-pth")
    assert vendor.vendor.calls == [dict(version="7.0.14", from_path=tmp_path / "src.tar.gz", dest=None, sha256=None,
                                        pth=False, force=False)]
    assert out == f"{tmp_path / 'tree'}\n"

    monkeypatch.setattr(dataset, "make_dataset", Core(tmp_path / "d" / "data.yaml"))
    _run(capsys, "dataset", "--out", tmp_path / "d", "--train", 3, "--imgsz", 64, "--video")
    assert dataset.make_dataset.calls == [dict(out=tmp_path / "d", train=3, val=50, imgsz=64, seed=0, video=True)]

    monkeypatch.setattr(weights, "init_weights", Core())
    _run(capsys, "init-weights", "--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", tmp_path / "tv.pth",
         "--out", tmp_path / "init.pt", "--nc", 3)
    assert weights.init_weights.calls == [dict(cfg="yolov5n-shufflenetv2.yaml", tv_weights=tmp_path / "tv.pth",
                                               out=tmp_path / "init.pt", nc=3)]


def test_train_and_detect_hand_yolov5_their_options_by_name(monkeypatch, capsys, tmp_path):
    from yolov5_shuffle import host_scripts as runs

    monkeypatch.setattr(runs, "train", Core(tmp_path / "runs" / "exp"))
    _, out = _run(capsys, "train", "--cfg", "my.yaml", "--data", tmp_path / "data.yaml", "--batch-size", 4)
    assert runs.train.calls == [dict(root=None, cfg="my.yaml", data=tmp_path / "data.yaml", epochs=100, imgsz=640,
                                     project=Path("runs/train"), batch=4, weights="")]
    assert out == f"results: {tmp_path / 'runs' / 'exp'}\n"

    monkeypatch.setattr(runs, "detect", Core(tmp_path / "out" / "exp"))
    _, out = _run(capsys, "detect", "--weights", tmp_path / "best.pt", "--source", tmp_path / "img.jpg", "--conf", 0.5)
    assert runs.detect.calls == [dict(root=None, weights=tmp_path / "best.pt", source=tmp_path / "img.jpg", imgsz=640,
                                      project=Path("runs/detect"), name="exp", extra=["--conf-thres", 0.5])]
    assert out == f"results: {tmp_path / 'out' / 'exp'}\n"


def test_bench_and_pick_pass_their_options_by_name(monkeypatch, capsys, tmp_path):
    from yolov5_shuffle.measure import bench, pick

    monkeypatch.setattr(bench, "run_bench", Core(returns=0))
    _run(capsys, "bench", "--cfgs", "a.yaml", "--imgsz", 64, 96, "--runtimes", "eager", "--reps", 2, "--no-memory",
         "--profile", "--out", tmp_path / "b")
    assert bench.run_bench.calls == [dict(cfgs=["a.yaml"], imgsz=[64, 96], runtimes=["eager"], accuracy=None,
                                          calib=None, threads=None, reps=2, warmup=3, out=tmp_path / "b", quick=False,
                                          memory=False, micro=False, profile=True)]

    monkeypatch.setattr(pick, "run_pick", Core(returns=0))
    _run(capsys, "pick", "--budget-ms", 12.5, "--configs", "a.yaml", "--threads", 2, "--accuracy", tmp_path / "y.json")
    assert pick.run_pick.calls == [dict(budget_ms=12.5, runtimes=None, threads=2, configs=["a.yaml"], imgsz=None,
                                        accuracy=tmp_path / "y.json", reps=20, warmup=3)]


def test_learn_demo_and_yardstick_pass_their_options_by_name(monkeypatch, capsys, tmp_path):
    from yolov5_shuffle import demo
    from yolov5_shuffle.measure import learning, yardstick

    monkeypatch.setattr(learning, "run_learning", Core(returns=0))
    _run(capsys, "learn", "--group", "n", "--seeds", 0, 1, "--epochs", 2, "--workdir", tmp_path / "w")
    assert learning.run_learning.calls == [dict(cfgs=None, group="n", workdir=tmp_path / "w", epochs=2, train=400,
                                                val=50, imgsz=160, batch=8, seeds=[0, 1], out=None)]

    monkeypatch.setattr(demo, "run_demo", Core(returns=0))
    _run(capsys, "demo", "--no-vendor", "--train", 6, "--data-imgsz", 64, "--workdir", tmp_path / "d")
    assert demo.run_demo.calls == [dict(workdir=tmp_path / "d", epochs=20, train=6, val=100, imgsz=160, data_imgsz=64,
                                        batch=32, cfg="yolov5n-shufflenetv2.yaml", vendor=False)]

    monkeypatch.setattr(yardstick, "run_yardstick", Core(returns=0))
    _run(capsys, "yardstick", "--grid", "smoke", "--seeds", 3, "--parallel", 2, "--workers", 1, "--cache", "ram",
         "--deadline-min", 1.5, "--out", tmp_path / "o", "--report-only", "--add", tmp_path / "x.json")
    assert yardstick.run_yardstick.calls == [dict(
        grid="smoke", cfgs=None, imgsz=None, seeds=[3], epochs=None, train=None, val=None, batch=None, parallel=2,
        options=yardstick.RunOptions(workers=1, cache="ram", device=None, threads=None), deadline_min=1.5,
        workdir=Path("runs/yardstick"), out=tmp_path / "o", bench=None, vendor=True, report_only=True,
        add=[tmp_path / "x.json"], ship=False)]


def test_yolo_hands_ultralytics_its_arguments_untouched(monkeypatch):
    fake = types.ModuleType("yolov5_shuffle.hosts.ultralytics.yolo_route")
    fake.main = Core(returns=0)
    monkeypatch.setitem(sys.modules, "yolov5_shuffle.hosts.ultralytics.yolo_route", fake)
    assert cli.main(["yolo", "train", "model=yolo11n-shufflenetv2.yaml", "epochs=1"]) == 0
    assert fake.main.calls == [dict(argv=["train", "model=yolo11n-shufflenetv2.yaml", "epochs=1"])]


@pytest.mark.parametrize("argv", [["vendor", "--from"], ["train", "--cfg", "x.yaml"], ["nosuchcommand"]])
def test_a_bad_command_line_is_one_line_and_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("yolov5-shuffle"), err
