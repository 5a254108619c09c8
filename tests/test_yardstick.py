"""The yardstick's machinery: the plateau rule, the refusal of runs that did not finish their schedule, the
deadline, the rows and the report; a smoke run through YOLOv5's train.py (seconds) and the CPU route (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from yolov5_shuffle.measure import yardstick, yardstick_report, yardstick_runs
from yolov5_shuffle.measure.curves import finished, plateau
from yolov5_shuffle.measure.yardstick import Job, merge_rows, row_of

HEADER = ("epoch,train/box_loss,train/obj_loss,train/cls_loss,metrics/precision,metrics/recall,metrics/mAP_0.5,"
          "metrics/mAP_0.5:0.95,val/box_loss,val/obj_loss,val/cls_loss,x/lr0,x/lr1,x/lr2")


def write_results(run: Path, curve: list[float]) -> Path:
    """A results.csv as YOLOv5 7.0 writes it (padded column names), one row per epoch of ``curve``."""
    run.mkdir(parents=True, exist_ok=True)
    values = [(i, .1, .02, .04, .5, .5, min(1.0, 1.5 * m), m, .1, .02, .04, .001, .001, .001)
              for i, m in enumerate(curve)]
    rows = [",".join(f"{v:>20}" for v in row) for row in values]
    (run / "results.csv").write_text(",".join(f"{h:>20}" for h in HEADER.split(",")) + "\n" + "\n".join(rows) + "\n")
    return run


def test_plateau_accepts_a_flat_tail_and_says_why_a_curve_has_not_flattened():
    rising_then_flat = [min(0.6, 0.05 * i) for i in range(24)]
    assert plateau(rising_then_flat)[0]
    ok, why = plateau([0.02 * i for i in range(24)])  # still climbing: tail mean 0.41, best 0.46
    assert not ok and "last-quarter mean" in why
    peaked_early = [0.5 if i == 5 else 0.3 + 0.001 * i for i in range(24)]
    ok, why = plateau(peaked_early)
    assert not ok and "last-quarter best" in why
    ok, why = plateau([0.5] * 19)
    assert not ok and "fewer than the 20" in why
    # the bounds are inclusive of 0.01 (best) and 0.02 (mean), and the last quarter is ceil(n/4) epochs
    assert plateau([0.0] * 15 + [0.50, 0.49, 0.49, 0.49, 0.49, 0.49, 0.48, 0.48])[0]
    assert not plateau([0.0] * 16 + [0.50] + [0.485] * 6)[0]


def test_a_run_that_did_not_finish_its_schedule_is_refused(tmp_path):
    run = write_results(tmp_path / "exp", [0.1, 0.2, 0.3])
    assert finished(run, 3, 0) == (True, "")
    assert finished(run, 5, 0) == (False, "3 of 5 epochs recorded")
    assert finished(run, 3, 1) == (False, "train.py exited 1")
    assert not finished(run, 3, None)[0]  # stopped at the deadline
    assert finished(None, 3, 0) == (False, "no results.csv")
    job = Job("yolov5n.yaml", 64, 0, tmp_path, tmp_path / "log", returncode=0)
    row, why = row_of(job, yardstick.Recipe("t", train=1, val=1, epochs=5, batch=1, data_imgsz=64), "cpu")
    assert row is None and why == "3 of 5 epochs recorded"


def test_a_finished_run_becomes_a_row_with_its_curve_and_plateau_verdict(tmp_path):
    curve = [min(0.6, 0.05 * i) for i in range(24)]
    write_results(tmp_path / "exp", curve)
    job = Job("yolov5n.yaml", 320, 2, tmp_path, tmp_path / "log", returncode=0, started=0.0, ended=60.0)
    recipe = yardstick.GRIDS["gpu"].recipe
    row, _ = row_of(job, yardstick.Recipe(**{**recipe.as_dict(), "epochs": 24}), "H200")
    assert row["cfg"] == "yolov5n.yaml" and row["imgsz"] == 320 and row["seed"] == 2 and row["epochs"] == 24
    assert row["curve"] == pytest.approx(curve) and row["mAP50-95"] == pytest.approx(0.6) and row["plateaued"]
    assert row["device"] == "H200" and row["recipe"]["val"] >= 500 and row["recipe"]["scene"]["clutter"] > 0


def test_the_deadline_stops_runs_still_going_and_they_are_not_reported(tmp_path, monkeypatch):
    def start(job, data, recipe, options):  # a run that would take a minute
        job.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        job.started = time.time()

    monkeypatch.setattr(yardstick_runs, "_start", start)
    jobs = [Job("yolov5n.yaml", 64, s, tmp_path / f"p{s}", tmp_path / f"l{s}") for s in (0, 1, 2)]
    t0 = time.time()
    yardstick.run_jobs(jobs, tmp_path, yardstick.GRIDS["smoke"].recipe, yardstick.RunOptions(workers=0, cache="none"),
                       parallel=2, deadline_min=0.02, poll_s=0.1, report_s=100)
    assert time.time() - t0 < 30
    assert jobs[2].proc is None  # never started: the two slots were busy until the deadline
    for j in jobs[:2]:
        assert j.proc.poll() is not None and j.returncode is None
        assert row_of(j, yardstick.GRIDS["smoke"].recipe, "cpu")[0] is None


def test_new_rows_replace_the_same_run_and_keep_the_others():
    def r(cfg, seed, m, recipe="a"):
        return {"cfg": cfg, "imgsz": 320, "seed": seed, "mAP50-95": m, "recipe": {"name": recipe}}

    merged = merge_rows([r("n", 0, 0.1), r("n", 1, 0.2), r("n", 0, 0.3, "b")], [r("n", 0, 0.5)])
    assert sorted((x["seed"], x["recipe"]["name"], x["mAP50-95"]) for x in merged) == \
        [(0, "a", 0.5), (0, "b", 0.3), (1, "a", 0.2)]


def test_the_plan_takes_every_seed_of_each_point_in_priority_order_and_data_at_the_largest_size():
    recipe, runs, _ = yardstick.plan(grid="gpu")
    assert runs[:6] == [("yolov5n.yaml", 320, s) for s in (0, 1, 2)] + \
        [("yolov5n-shufflenetv2.yaml", 320, s) for s in (0, 1, 2)]
    assert recipe.data_imgsz == max(s for _, s, _ in runs) and recipe.val >= 500
    assert len({s for c, s, _ in runs if c == "yolov5n.yaml"}) >= 3
    recipe, runs, _ = yardstick.plan(grid="smoke", cfgs=["yolov5n.yaml"], imgsz=[96], seeds=[4], epochs=3)
    assert runs == [("yolov5n.yaml", 96, 4)] and recipe.data_imgsz == 96 and recipe.epochs == 3
    assert "epochs 3" in recipe.name


def test_report_writes_table_between_markers_and_keeps_the_words_around_it(tmp_path):
    rows = [{"cfg": "yolov5n.yaml", "imgsz": 320, "seed": s, "epochs": 20, "mAP50": 0.9, "mAP50-95": 0.6 + 0.01 * s,
             "curve": [0.03 * i for i in range(20)], "plateaued": s > 0, "device": "cpu", "recipe": {"name": "r"}}
            for s in range(3)]
    (tmp_path / "README.md").write_text(f"# words\n\n{yardstick_report.BEGIN}\nold\n{yardstick_report.END}\n\nmore\n")
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"info": {"threads": 2}, "rows": [
        {"cfg": "yolov5n.yaml", "imgsz": 320, "runtime": rt, "batch": 1, "median_ms": ms}
        for rt, ms in (("eager", 20.0), ("onnxruntime", 10.0), ("onnxruntime_int8", 5.0))]}))
    yardstick_report.write_report(rows, tmp_path, bench)
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# words") and text.rstrip().endswith("more") and "old" not in text
    assert "| yolov5n | 320 | 3 (0, 1, 2) | 2/3 | 0.610 (0.600-0.620) |" in text
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "front.png").stat().st_size > 0
    assert yardstick_report.best_latency(json.loads(bench.read_text()))[("yolov5n.yaml", 320)] == (10.0, "onnxruntime")


def test_smoke_grid_trains_through_yolov5_and_reports_a_too_short_run_as_not_plateaued(yolo_root, tmp_path):
    out = tmp_path / "out"
    r = run_cli("yardstick", "--grid", "smoke", "--workdir", tmp_path / "work", "--out", out, check=True)
    assert "1 of 1 runs finished their schedule" in r.stdout and "epochs" in r.stdout  # progress lines
    (row,) = json.loads((out / "yardstick.json").read_text())["rows"]
    assert row["cfg"] == "yolov5n.yaml" and row["imgsz"] == 64 and row["epochs"] == 2 and len(row["curve"]) == 2
    assert row["plateaued"] is False and "fewer than the 20" in row["plateau_note"]
    assert row["recipe"]["name"].startswith("smoke (2 epochs: a machinery check, not a result)") and row["device"]
    assert "| yolov5n | 64 |" in (out / "README.md").read_text()


def test_yardstick_refuses_an_unknown_config_before_any_work(tmp_path):
    r = run_cli("yardstick", "--grid", "smoke", "--cfgs", "nope.yaml", "--workdir", tmp_path / "w", "--out",
                tmp_path / "o")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nope.yaml" in r.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cpu_route_trains_the_n_pair_to_a_plateau(yolo_root, tmp_path):
    """The reduced grid of the docs (2 cores, under an hour): both runs finish and their curves flatten."""
    out = tmp_path / "out"
    run_cli("yardstick", "--grid", "cpu", "--workdir", tmp_path / "work", "--out", out, check=True)
    rows = json.loads((out / "yardstick.json").read_text())["rows"]
    assert {r["cfg"] for r in rows} == {"yolov5n.yaml", "yolov5n-shufflenetv2.yaml"}
    assert all(r["plateaued"] for r in rows), [r["plateau_note"] for r in rows]
