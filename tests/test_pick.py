"""`yolov5-shuffle pick`: times candidates here, reads accuracy from the shipped table (or the user's), answers
last; refuses budgets that are not positive numbers, and says what was fastest when nothing fits."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from yolov5_shuffle.errors import UserError
from yolov5_shuffle.measure import pick
from yolov5_shuffle.measure.yardstick_report import PACKAGE_TABLE

QUICK = ("--threads", "2", "--runtimes", "eager", "--reps", "2", "--warmup", "0")


def table(tmp_path: Path, points=(("yolov5n.yaml", 64, 0.40), ("yolov5n-shufflenetv2.yaml", 64, 0.30))) -> Path:
    f = tmp_path / "yardstick.json"
    f.write_text(json.dumps({"rows": [
        {"cfg": c, "imgsz": s, "seed": 0, "epochs": 2, "mAP50": min(m + 0.2, 1.0), "mAP50-95": m, "curve": [m / 2, m],
         "plateaued": False, "device": "test CPU", "recipe": {"name": "test recipe"}} for c, s, m in points]}))
    return f


def test_pick_prints_the_most_accurate_config_and_size_last_within_a_generous_budget(yolo_root, tmp_path):
    points = (("yolov5n.yaml", 64, 0.40), ("yolov5n-shufflenetv2.yaml", 64, 0.30), ("gone/away.yaml", 64, 0.9))
    r = run_cli("pick", "--budget-ms", "100000", "--accuracy", table(tmp_path, points), *QUICK)
    assert r.returncode == 0, r.stderr
    assert "skip gone/away.yaml: config gone/away.yaml: no such file" in r.stdout  # not built, not picked
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("pick: yolov5n.yaml at 64 px in eager:") and "mAP50-95 0.400" in lines[-1]
    assert any("recipe 'test recipe', trained on test CPU" in x for x in lines)  # where the accuracy came from
    assert any(x.startswith("timing 2 candidate(s)") and "about" in x for x in lines)  # said before the wait
    assert sum(x.startswith("| yolov5n") for x in lines) == 2


def test_pick_reads_the_table_shipped_in_the_package(yolo_root):
    rows = json.loads(PACKAGE_TABLE.read_text())["rows"]
    cfg, size = rows[0]["cfg"], rows[0]["imgsz"]
    r = run_cli("pick", "--budget-ms", "100000", "--configs", cfg, "--imgsz", size, *QUICK)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith(f"pick: {Path(cfg).name} at {size} px")
    assert f"trained on {rows[0]['device']}" in r.stdout


def test_nothing_fits_exits_2_naming_the_budget_and_the_fastest_option(yolo_root, tmp_path):
    r = run_cli("pick", "--budget-ms", "0.001", "--accuracy", table(tmp_path), *QUICK)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "--budget-ms 0.001" in r.stderr and "fastest option measured is yolov5n" in r.stderr


@pytest.mark.parametrize("budget", ["-1", "abc", "0", "nan", "inf"])
def test_a_budget_that_is_not_a_positive_number_is_refused_with_one_line(budget):
    r = run_cli("pick", "--budget-ms", budget)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--budget-ms" in r.stderr and not r.stdout


def test_an_accuracy_file_that_is_not_a_results_table_is_refused_before_timing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"rows\": [{\"cfg\": 1}]}")
    r = run_cli("pick", "--budget-ms", "5", "--accuracy", bad)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.json" in r.stderr and "timing" not in r.stdout
    r = run_cli("pick", "--budget-ms", "5", "--accuracy", table(tmp_path), "--configs", "yolov5s.yaml")
    assert r.returncode == 2 and "yolov5n.yaml@64" in r.stderr


def test_learn_results_are_read_with_their_size_from_the_setup_line():
    rows, _ = pick.load_accuracy(REPO / "docs" / "learn" / "n" / "learning.json")
    assert {r["imgsz"] for r in rows} == {160} and all(r["recipe"]["name"].startswith("20 epochs") for r in rows)


def test_choose_takes_the_most_accurate_that_fits_and_the_faster_on_a_tie():
    timed = [{"cfg": "a", "imgsz": 320, "runtime": "eager", "median_ms": 9.0, "mAP50-95": 0.5},
             {"cfg": "b", "imgsz": 320, "runtime": "eager", "median_ms": 11.0, "mAP50-95": 0.9},
             {"cfg": "c", "imgsz": 256, "runtime": "onnxruntime", "median_ms": 5.0, "mAP50-95": 0.5}]
    assert pick.choose(timed, 10.0)["cfg"] == "c"
    assert pick.choose(timed, 20.0)["cfg"] == "b"
    with pytest.raises(UserError, match=r"--budget-ms 1: the fastest option measured is c at 256 px in onnxruntime"):
        pick.choose(timed, 1.0)


def test_the_shipped_table_is_package_data_and_holds_only_labelled_finished_runs():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "measure/*.json" in cfg["options.package_data"]["yolov5_shuffle"]
    rows = json.loads(PACKAGE_TABLE.read_text())["rows"]
    assert rows
    for r in rows:
        assert r["device"] and r["recipe"]["name"] and len(r["curve"]) == r["epochs"] == r["recipe"]["epochs"]


def test_pick_offers_every_registered_runtime_and_times_the_fp32_ones_by_default():
    import argparse

    from yolov5_shuffle.commands import pick as command
    from yolov5_shuffle.deploy import runtimes

    p = argparse.ArgumentParser()
    command.add_arguments(p)
    assert p.parse_args(["--budget-ms", "9", "--runtimes", *runtimes.names()]).runtimes == list(runtimes.names())
    assert all(runtimes.by_name(n).precision == "fp32" for n in pick.default_runtimes())
    assert "eager" in pick.default_runtimes()
