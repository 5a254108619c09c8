"""The yardstick's machinery: the plateau rule, the refusal of runs that did not finish their schedule, the
deadline, the rows and the report, the convergence check; a grid that survives its yardstick being killed
(rows written as runs end, a rerun that resumes) and runs that stop with it; smoke runs through YOLOv5's
train.py (seconds each) and the CPU route (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLI, run_cli
from yolov5_shuffle.measure import convergence, yardstick, yardstick_report, yardstick_runs
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


# --- rows checked before anything is written ----------------------------------------------------------

SMOKE = yardstick.GRIDS["smoke"].recipe


def _row(cfg="yolov5n.yaml", imgsz=64, seed=0, m=0.5, recipe=None, **kw) -> dict:
    """A complete row as the yardstick writes it."""
    curve = [round(m * i / 19, 5) for i in range(20)]
    return {"cfg": cfg, "imgsz": imgsz, "seed": seed, "epochs": len(curve), "mAP50": min(1.0, 1.5 * m), "mAP50-95": m,
            "final_mAP50-95": m, "curve": curve, "curve_mAP50": curve, "plateaued": False, "plateau_note": "n",
            "train_s": 10.0, "device": "cpu", "recipe": recipe or yardstick.recipe_json(SMOKE), **kw}


def test_report_only_add_refuses_a_bad_row_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "yardstick.json").write_text(json.dumps({"rows": [_row()]}))
    assert run_cli("yardstick", "--report-only", "--out", out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "gpu.json"
    bad.write_text(json.dumps({"rows": [_row(seed=1), {k: v for k, v in _row(seed=2).items() if k != "curve"}]}))
    r = run_cli("yardstick", "--report-only", "--add", bad, "--out", out)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, (r.returncode, r.stderr)
    assert f"{bad}: row 2 is not a yardstick row: no 'curve'" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # table and report as they were
    assert run_cli("yardstick", "--report-only", "--out", out).returncode == 0  # and the next report works
    (out / "yardstick.json").write_text(json.dumps({"rows": [_row(imgsz="64")]}))  # a table broken by hand
    r = run_cli("yardstick", "--report-only", "--out", out)
    assert r.returncode == 2 and "row 1 is not a yardstick row: 'imgsz' is '64', not int" in r.stderr


# --- resuming a grid ----------------------------------------------------------------------------------

def test_run_folders_are_named_by_recipe_config_size_and_seed_so_a_rerun_finds_them(tmp_path):
    runs = [("yolov5n.yaml", 64, 0), ("yolov5n.yaml", 64, 1), ("docs/x/yolov5n.yaml", 64, 0)]
    first, again = (yardstick.make_jobs(tmp_path, SMOKE, runs) for _ in range(2))
    assert [j.project for j in first] == [j.project for j in again] and [j.log for j in first] == [j.log for j in again]
    assert len({j.project for j in first}) == 3  # two configs of one name keep apart
    longer = yardstick.plan(grid="smoke", epochs=3)[0]
    assert yardstick.make_jobs(tmp_path, longer, runs[:1])[0].project.parent != first[0].project.parent


def test_a_rerun_skips_rows_the_table_has_recovers_finished_runs_and_clears_dead_ones(tmp_path, capsys):
    runs = [("yolov5n.yaml", 64, s) for s in range(4)]
    jobs = yardstick.make_jobs(tmp_path / "work", SMOKE, runs)
    table = [_row(seed=0), _row(seed=1, recipe={**yardstick.recipe_json(SMOKE), "data_imgsz": 96})]
    write_results(jobs[2].project / "exp", [0.1, 0.2])  # finished, but killed before its row was written
    (jobs[2].project / yardstick_runs.FINISHED).write_text(json.dumps({"train_s": 12.5}))
    write_results(jobs[3].project / "exp", [0.1])  # killed mid-run
    recorded = []
    todo = yardstick._resume(jobs, table, SMOKE, tmp_path / "t.json", "cpu", recorded.extend)
    assert todo == [jobs[1], jobs[3]]  # seed 1's row is of another recipe under the same name: trained again
    assert [(r["seed"], r["train_s"], r["epochs"]) for r in recorded] == [(2, 12.5, 2)]
    assert not jobs[3].project.exists()  # restarted from scratch
    said = capsys.readouterr().out
    assert "skipping 1 finished runs" in said and "recovered 1 finished runs" in said


def test_the_estimate_comes_from_earlier_rows_of_the_same_recipe(tmp_path):
    jobs = yardstick.make_jobs(tmp_path, SMOKE, [("yolov5n.yaml", 64, s) for s in range(3)])
    rows = [_row(epochs=2, train_s=100.0, curve=[0.1, 0.2]), _row(epochs=2, train_s=5.0, recipe={"name": "other"})]
    assert "about 5.0 min, 1 at a time" in yardstick.estimate(rows, SMOKE, jobs, 1)  # 3 runs x 2 epochs x 50 s
    assert "about 2.5 min, 2 at a time" in yardstick.estimate(rows, SMOKE, jobs, 2)
    assert "no earlier run of this recipe" in yardstick.estimate(rows[1:], SMOKE, jobs, 1)


# --- the convergence check ----------------------------------------------------------------------------

CPU = yardstick.recipe_json(yardstick.GRIDS["cpu"].recipe)
EPOCHS_X2 = {**CPU, "name": "cpu (epochs 60)", "epochs": 60}
TRAIN_X2 = {**CPU, "name": "cpu (train 2400)", "train": 2400}


def test_only_recipes_that_double_one_budget_and_change_nothing_else_are_paired():
    assert convergence.doubled(CPU, EPOCHS_X2) == "epochs" and convergence.doubled(CPU, TRAIN_X2) == "train"
    assert convergence.doubled(EPOCHS_X2, CPU) is None and convergence.doubled(CPU, CPU) is None
    assert convergence.doubled(CPU, {**EPOCHS_X2, "batch": 32}) is None
    assert convergence.doubled(CPU, {**CPU, "epochs": 90}) is None
    assert convergence.doubled(CPU, {**CPU, "val": 1000}) is None


def test_convergence_check_gives_gains_and_the_gap_moved_and_its_verdict():
    n, ours = "yolov5n.yaml", "yolov5n-shufflenetv2.yaml"
    rows = [_row(n, 160, 0, 0.60, CPU), _row(ours, 160, 0, 0.44, CPU),
            _row(n, 160, 0, 0.62, EPOCHS_X2), _row(ours, 160, 0, 0.48, EPOCHS_X2),  # gap 0.16 -> 0.14: at the bound
            _row(n, 160, 0, 0.70, TRAIN_X2), _row(ours, 160, 0, 0.47, TRAIN_X2),  # yolov5n gains 0.10
            _row(n, 160, 1, 0.61, CPU)]  # seed 1 has no 2B run: not compared
    by = {c["budget"]: c for c in convergence.compare(rows)}
    assert len(convergence.compare(rows)) == 2
    e = by["epochs"]
    assert (e["cfg_a"], e["cfg_b"], e["imgsz"], e["seed"]) == (n, ours, 160, 0)
    assert e["gain_a"] == pytest.approx(0.02) and e["gain_b"] == pytest.approx(0.04)
    assert e["gap_small"] == pytest.approx(0.16) and e["gap_moved"] == pytest.approx(-0.02) and e["ok"]
    t = by["train"]
    assert t["gain_a"] == pytest.approx(0.10) and t["gap_moved"] == pytest.approx(0.07) and not t["ok"]
    alone = convergence.compare([_row(n, 160, 0, 0.60, CPU), _row(n, 160, 0, 0.66, EPOCHS_X2)])
    assert [(c["cfg_b"], round(c["gain_a"], 3), c["ok"]) for c in alone] == [(None, 0.06, False)]
    assert convergence.compare(rows[:2] + rows[-1:]) == []
    table = convergence.markdown(convergence.compare(rows))
    assert "1 of 2 pass" in table and "| epochs x2 | yardstick-cpu -> cpu (epochs 60) | 160 | 0 |" in table
    assert "| +0.020 | +0.040 | +0.160 | +0.140 | -0.020 | pass |" in table and "FAIL" in table


def test_the_report_prints_the_convergence_check_when_the_table_has_a_doubled_budget(tmp_path, capsys):
    rows = [_row("yolov5n.yaml", 160, 0, 0.60, CPU), _row("yolov5n.yaml", 160, 0, 0.61, EPOCHS_X2)]
    yardstick_report.write_report(rows, tmp_path)
    assert "Is the budget enough?" in (tmp_path / "README.md").read_text() and "1 of 1 pass" in capsys.readouterr().out
    yardstick_report.write_report(rows[:1], tmp_path)
    assert "Is the budget enough?" not in (tmp_path / "README.md").read_text()


# --- a grid that survives its yardstick, runs that stop with it (real processes) ----------------------

def _procs(marker: str) -> list[str]:
    """The command lines of the live processes (zombies have none) that hold ``marker``."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace") if d.name.isdigit() else ""
        except OSError:
            continue
        if marker in cmd and int(d.name) != os.getpid():
            found.append(cmd)
    return found


def _wait_for(cond, timeout: float, what: str):
    t0 = time.time()
    while time.time() - t0 < timeout:
        got = cond()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout} s for {what}")


def _yardstick(log: Path, *args) -> subprocess.Popen:
    """`yolov5-shuffle yardstick` in the background, its output into ``log``."""
    with log.open("w") as fh:
        return subprocess.Popen([*CLI, "yardstick", *map(str, args)], stdout=fh, stderr=subprocess.STDOUT)


linux_only = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")


@linux_only
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL], ids=["hung-up", "kill-9"])
def test_runs_stop_when_their_yardstick_is_hung_up_or_killed(yolo_root, tmp_path, sig):
    work = tmp_path / "work"
    marker = f"{work}/"  # in the command line of each run's process and its train.py
    proc = _yardstick(tmp_path / "log", "--grid", "smoke", "--workdir", work, "--out", tmp_path / "out")
    try:
        _wait_for(lambda: [c for c in _procs(marker) if "train.py" in c], 600, "train.py to start")
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=60)
        _wait_for(lambda: not _procs(marker), 10, f"the runs to stop: {_procs(marker)}")
    finally:
        proc.kill()
    assert code == (130 if sig == signal.SIGHUP else -signal.SIGKILL), (tmp_path / "log").read_text()[-2000:]


@linux_only
def test_killing_the_yardstick_mid_grid_loses_no_finished_run_and_reruns_only_the_unfinished(yolo_root, tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    args = ("--grid", "smoke", "--seeds", 0, 1, "--workdir", work, "--out", out)
    first = _yardstick(tmp_path / "first.log", *args)
    try:  # killed while seed 1 trains, its folder half-written, seed 0's row in the table
        _wait_for(lambda: list(work.glob("runs/*/yolov5n_64_s1/exp")), 900, "seed 1 to start training")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        _wait_for(lambda: not _procs(f"{work}/"), 10, "the killed yardstick's runs to stop")
    finally:
        first.kill()
    (kept,) = json.loads((out / "yardstick.json").read_text())["rows"]
    assert kept["seed"] == 0
    r = run_cli("yardstick", *args, check=True)
    said = r.stdout
    assert said.index("skipping 1 finished runs") < said.index("estimate: about") < said.index("started:")
    assert "started: yolov5n@64 seed 1" in said and "started: yolov5n@64 seed 0" not in said
    assert "yolov5n@64 seed 1: did not finish last time; removing" in said
    assert "1 of 1 runs finished their schedule" in said
    rows = json.loads((out / "yardstick.json").read_text())["rows"]
    assert sorted(r["seed"] for r in rows) == [0, 1] and kept in rows  # seed 0's row untouched


def test_two_processes_writing_one_yardstick_table_lose_no_rows(yolo_root, tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps({"rows": [_row(imgsz=320, recipe=CPU)]}))
    training = _yardstick(tmp_path / "log", "--grid", "smoke", "--workdir", work, "--out", out)
    try:  # a training yardstick held still while --report-only --add writes the table: its row must survive
        _wait_for(lambda: list(work.glob("logs/**/*.log")), 600, "the smoke run to start")
        training.send_signal(signal.SIGSTOP)
        try:
            run_cli("yardstick", "--report-only", "--add", gpu, "--out", out, check=True)
        finally:
            training.send_signal(signal.SIGCONT)
        assert training.wait(timeout=900) == 0, (tmp_path / "log").read_text()[-2000:]
    finally:
        training.kill()
    rows = json.loads((out / "yardstick.json").read_text())["rows"]
    assert sorted(r["imgsz"] for r in rows) == [64, 320]
