"""The benchmark's outputs have the right form and make sense (no timing thresholds: those are reported)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest
import torch

from conftest import run_cli
from yolov5_shuffle import blocks
from yolov5_shuffle.measure import bench, microbench, profile, timing


@pytest.mark.slow  # long (20-30 s on 2 cores): outside CI, run with -m slow
def test_bench_outputs_every_row_finite_and_consistent(tmp_path):
    r = run_cli("bench", "--cfgs", "yolov5n-shufflenetv2.yaml", "--imgsz", "320", "--runtimes", "eager", "onnxruntime",
                "--reps", "3", "--warmup", "1", "--profile", "--out", tmp_path, check=True)
    data = json.loads((tmp_path / "bench.json").read_text())
    rows = data["rows"]
    assert data["info"]["threads"] >= 1 and data["info"]["device"]
    want = {(c, rt) for c in (*bench.BASELINES, "yolov5n-shufflenetv2.yaml") for rt in ("eager", "onnxruntime")}
    assert {(x["cfg"], x["runtime"]) for x in rows} == want and all(x["imgsz"] == 320 for x in rows)
    for x in rows:
        assert all(math.isfinite(t) and t > 0 for t in x["times_ms"]) and len(x["times_ms"]) == 3
        assert x["p90_ms"] >= x["median_ms"] > 0
        assert x["params"] > 1e5 and x["gflops"] > 0 and x["peak_mib"] > 0
        assert x["ratio_yolov5n"] > 0 and x["ratio_yolov5s"] > 0
        if x["cfg"] == "yolov5n.yaml":
            assert x["ratio_yolov5n"] == 1.0
    by = {x["cfg"]: x for x in rows if x["runtime"] == "eager"}
    # GFLOPs at 320 are a quarter of YOLOv5's printed 640 figures (4.6 and 16.6)
    assert abs(by["yolov5n.yaml"]["gflops"] - 4.6 / 4) < 0.05 and abs(by["yolov5s.yaml"]["gflops"] - 16.6 / 4) < 0.1
    assert by["yolov5n.yaml"]["params"] == 1867405  # fused: YOLOv5's 1,872,157 less the BatchNorm affine terms
    assert len(list(csv.DictReader((tmp_path / "bench.csv").open()))) == len(rows)
    png = (tmp_path / "latency_320.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "| yolov5n-shufflenetv2.yaml | 320 | eager |" in r.stdout
    prof = (tmp_path / "profile_320.md").read_text()
    assert all(f"| {c} |" in prof for c in (*bench.BASELINES, "yolov5n-shufflenetv2.yaml"))


REFUSING_BENCH = """
import argparse, sys
from yolov5_shuffle import hosts as env
from yolov5_shuffle.commands import bench as command
from yolov5_shuffle.measure import bench

built, real_build, real_runner = {}, env.build, bench.make_runner

def build(cfg, nc=80):
    built[cfg] = real_build(cfg, nc)
    return built[cfg]

def make_runner(runtime, model, imgsz, threads, batch=1, calib=None):
    if runtime == "onnxruntime" and model is built["yolov5n-shufflenetv2.yaml"]:
        raise RuntimeError("pnnx failed (exit 1):\\nunsupported op")
    return real_runner("eager", model, imgsz, threads, batch, calib)  # eager stands in: no export needed

env.build, bench.make_runner = build, make_runner
parser = argparse.ArgumentParser()
command.add_arguments(parser)
sys.exit(command.run(parser.parse_args()))
"""


def test_a_model_a_converter_refuses_is_skipped_with_a_line(tmp_path):
    """One model that a runtime cannot take (RT-DETR in ncnn, say) costs its row, not the whole run."""
    r = subprocess.run([sys.executable, "-c", REFUSING_BENCH, "--cfgs", "yolov5n-shufflenetv2.yaml", "--imgsz", "64",
                        "--runtimes", "eager", "onnxruntime", "--reps", "1", "--warmup", "0", "--no-memory",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skip yolov5n-shufflenetv2.yaml in onnxruntime: pnnx failed (exit 1):" in r.stdout
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    cfgs = bench.BASELINES + ("yolov5n-shufflenetv2.yaml",)
    assert {(x["cfg"], x["runtime"]) for x in rows} == {(c, rt) for c in cfgs for rt in ("eager", "onnxruntime")} - {
        ("yolov5n-shufflenetv2.yaml", "onnxruntime")}


def _need(runtime: str) -> None:
    from yolov5_shuffle.deploy import runtimes

    ok, why = runtimes.available(runtime)
    if not ok:
        pytest.skip(why)


def test_bench_exports_leave_nothing_in_tmpdir(tmp_path, monkeypatch):
    import tempfile

    _need("onnxruntime")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = bench.make_runner("onnxruntime", torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1)).eval(), 64, 1)
    assert run().shape == (1, 4, 32, 32)
    assert list(tmp_path.iterdir()) == []  # the export was loaded, then removed


def test_bench_interrupted_leaves_no_calibration_set_nor_export(yolo_root, tmp_path, monkeypatch):
    import tempfile

    _need("onnxruntime_int8")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "time_interleaved", interrupted)  # after every model's int8 export
    with pytest.raises(KeyboardInterrupt):
        bench.run_bench(cfgs=["yolov5n-shufflenetv2.yaml"], imgsz=[64], runtimes=["onnxruntime_int8"], threads=None,
                        reps=1, warmup=0, out=tmp_path / "out", memory=False)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ratio_medians_are_per_round():
    times = {"a": [10.0, 20.0, 30.0], "base": [10.0, 10.0, 10.0]}
    assert timing.ratio_medians(times, "base") == {"a": 2.0, "base": 1.0}
    assert timing.ratio_medians(times, "missing") == {}
    assert timing.p90([5.0, 1.0, 2.0, 3.0, 4.0]) == 5.0


def test_shuffle_variants_are_exact_and_micro_reports(tmp_path):
    a, b = torch.randn(2, 6, 5, 5), torch.randn(2, 6, 5, 5)
    ref = blocks.channel_shuffle(torch.cat((a, b), 1), 2)
    for name, f in microbench.shuffle_variants().items():
        assert torch.equal(f(a, b), ref), name
    res = microbench.run_micro(reps=20, out=tmp_path)
    assert len(res["stem"]) == 1 and len(res["shufflenet"]) == 3 and len(res["mobilenet"]) == 3 and len(res["shuffle"]) == 4
    assert all(r["ratio"] > 0 and math.isfinite(r["ratio"]) for r in res["stem"] + res["shufflenet"] + res["mobilenet"])
    assert (tmp_path / "micro.md").is_file()


def test_profile_sorts_convs_by_weight_shape_and_counts_every_category():
    assert profile.categorize("aten::conv2d", [[1, 8, 4, 4], [8, 1, 3, 3]]) == "depthwise conv"
    assert profile.categorize("aten::conv2d", [[1, 8, 4, 4], [16, 8, 1, 1]]) == "1x1 conv"
    assert profile.categorize("aten::conv2d", [[1, 3, 4, 4], [16, 3, 6, 6]]) == "dense conv (k>1)"
    assert profile.categorize("aten::stack", []) == "concat / shuffle copies"
    assert profile.categorize("aten::relu_", []) == "activation"
    unit = torch.nn.Sequential(blocks.conv_bn_relu_maxpool(3, 8), blocks.ShuffleNetV2_InvertedResidual(8, 16, 2)).eval()
    ms = profile.profile_model(unit, 64, reps=2)
    assert set(ms) == set(profile.CATEGORIES)
    for c in ("dense conv (k>1)", "1x1 conv", "depthwise conv", "activation", "concat / shuffle copies"):
        assert ms[c] > 0, c


def test_pareto_front_keeps_only_points_nothing_beats(tmp_path):
    pts = [(10.0, 0.30), (12.0, 0.25), (20.0, 0.50), (25.0, 0.45), (8.0, 0.20), (30.0, 0.55)]
    assert bench.pareto_front(pts) == [(8.0, 0.20), (10.0, 0.30), (20.0, 0.50), (30.0, 0.55)]
    rows = [{"cfg": c, "imgsz": 320, "runtime": rt, "median_ms": ms, "batch": 1}
            for rt in ("eager", "openvino") for c, ms in (("yolov5n.yaml", 20.0), ("ours.yaml", 12.0))]
    acc = tmp_path / "learning.json"
    acc.write_text(json.dumps({"rows": [{"cfg": "yolov5n.yaml", "mAP50": 0.24}, {"cfg": "ours.yaml", "mAP50": 0.3}]}))
    (png,) = bench.plot_pareto(rows, [acc], tmp_path)
    assert png.name == "pareto_320.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_plot_takes_the_mean_over_seeds(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "_panel", lambda ax, pts, *a: seen.extend(pts))
    rows = [{"cfg": c, "imgsz": 320, "runtime": "onnxruntime", "median_ms": ms, "batch": 1}
            for c, ms in (("yolov5n.yaml", 20.0), ("ours.yaml", 12.0))]
    acc = tmp_path / "learning.json"
    acc.write_text(json.dumps({"rows": [{"cfg": "yolov5n.yaml", "mAP50": 0.2, "mAP50-95": 0.1},
                                        {"cfg": "ours.yaml", "mAP50": 0.1, "mAP50-95": 0.1},
                                        {"cfg": "ours.yaml", "mAP50": 0.4, "mAP50-95": 0.1}]}))
    bench.plot_pareto(rows, [acc], tmp_path)
    assert sorted(seen) == [(12.0, pytest.approx(0.25), "ours.yaml"), (20.0, 0.2, "yolov5n.yaml")]


def test_every_runner_runs_once_a_round_in_a_new_seeded_order():
    """A fixed order hands one model the wake of the same other model every round; the order is drawn again each
    round, from a seed bench records, so it can be told again."""
    calls = []
    runners = {k: (lambda k=k: calls.append(k)) for k in "abcd"}
    times = timing.time_interleaved(runners, reps=6, warmup=0)
    orders = timing.round_orders("abcd", 6)
    assert calls == [k for order in orders for k in order] and all(sorted(o) == list("abcd") for o in orders)
    assert len({tuple(o) for o in orders}) > 1 and orders == timing.round_orders("abcd", 6, seed=timing.ORDER_SEED)
    assert {k: len(v) for k, v in times.items()} == dict.fromkeys("abcd", 6)


def test_bench_refuses_in_one_line_when_no_runtime_asked_for_can_run(tmp_path, monkeypatch):
    from yolov5_shuffle.deploy import runtimes
    from yolov5_shuffle.errors import UserError

    def no_work(*_a, **_k):
        raise AssertionError("the refusal must come before building")

    monkeypatch.setattr(runtimes.by_name("onnxruntime"), "available", lambda: (False, "onnxruntime not installed"))
    monkeypatch.setattr(bench, "build_models", no_work)
    with pytest.raises(UserError, match=r"^--runtimes onnxruntime: none can run here \(onnxruntime: onnxruntime not"):
        bench.run_bench(cfgs=None, imgsz=[64], runtimes=["onnxruntime"], threads=1, reps=1, warmup=0,
                        out=tmp_path / "out", memory=False)
    assert not (tmp_path / "out").exists()


def test_bench_times_the_configs_we_ship_by_default(tmp_path, monkeypatch):
    from yolov5_shuffle import configs

    (tmp_path / "yolov5").mkdir()
    for name in ("yolov5n-new.yaml", "yolov5s-new.yaml"):
        (tmp_path / "yolov5" / name).write_text("nc: 80\n")
    monkeypatch.setattr(configs, "CONFIG_ROOT", tmp_path)
    assert bench.our_configs() == ("yolov5n-new.yaml", "yolov5s-new.yaml")

