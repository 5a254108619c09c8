"""One lock rule for everything two processes may write: a lock file beside the target (never in $TMPDIR), held
across processes whatever their environment, and tables merged under it at write time so no row is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from yolov5_shuffle import outputs
from yolov5_shuffle.errors import UserError

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="flock locks: POSIX only")


def _python(code: str, tmpdir: Path, **kw) -> subprocess.Popen:
    """Another Python process of this checkout with its own $TMPDIR."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": os.pathsep.join(filter(None, (
        str(REPO), os.environ.get("PYTHONPATH"))))}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True, **kw)


class _Holder:
    """A process holding ``target``'s lock (through ``outputs.exclusive``, as a running export does) until closed."""

    def __init__(self, target: Path, tmpdir: Path):
        self.proc = _python(f"""
            import sys
            from yolov5_shuffle.outputs import exclusive
            with exclusive({str(target)!r}):
                print("held", flush=True)
                sys.stdin.read()
            """, tmpdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline().strip() == "held"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


def test_a_lock_holds_across_processes_whose_tmpdir_differs(tmp_path):
    target = tmp_path / "exports"
    with _Holder(target, tmp_path / "tmp-a"):
        other = _python(f"""
            from yolov5_shuffle.outputs import exclusive
            from yolov5_shuffle.errors import UserError
            try:
                with exclusive({str(target)!r}):
                    print("got it")
            except UserError as e:
                print("refused:", e)
            """, tmp_path / "tmp-b", stdout=subprocess.PIPE)
        said = other.communicate(timeout=60)[0]
    assert said.startswith("refused:") and "another run is writing into it" in said, said
    with outputs.exclusive(target):  # and it went with the process that held it
        pass


def test_the_lock_file_lives_beside_the_target_not_in_tmpdir(tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    target = tmp_path / "out" / "exports"
    for _ in range(2):
        with outputs.exclusive(target):
            pass
    assert list(tmp.iterdir()) == []
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".exports.lock"]  # kept and reused, one file
    assert not target.exists()


def test_export_refuses_a_folder_another_process_exports_into_whatever_its_tmpdir(tmp_path):
    out = tmp_path / "exports"
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"stands in for a checkpoint: load_checkpoint is replaced")
    with _Holder(out, tmp_path / "tmp-a"):
        export = _python(f"""
            import sys
            import yolov5_shuffle.hosts as hosts
            from yolov5_shuffle import cli
            hosts.load_checkpoint = lambda path: (object(), ["a"], 32)
            sys.exit(cli.main(["export", "--weights", {str(weights)!r}, "--to", "onnxruntime", "--imgsz", "64",
                               "--out", {str(out)!r}]))
            """, tmp_path / "tmp-b", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = export.communicate(timeout=300)
    assert export.returncode == 2 and f"--out {out}: another run is writing into it" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_two_processes_adding_rows_to_one_table_lose_none(tmp_path):
    table = tmp_path / "table.json"
    def adder(name: str) -> str:
        return f"""
            from yolov5_shuffle.outputs import update_json
            for i in range(40):
                update_json({str(table)!r}, lambda old: {{"rows": (old or {{"rows": []}})["rows"] + ["{name}%d" % i]}})
            """

    procs = [_python(adder(name), tmp_path / f"tmp-{name}") for name in "ab"]
    for p in procs:
        assert p.wait(timeout=300) == 0
    rows = json.loads(table.read_text())["rows"]
    assert len(rows) == 80 and len(set(rows)) == 80
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_update_json_writes_nothing_when_the_check_refuses(tmp_path):
    table = tmp_path / "t.json"
    table.write_text('{"rows": [1]}')

    def refuse(new):
        raise UserError("bad row")

    with pytest.raises(UserError, match="bad row"):
        outputs.update_json(table, lambda old: {"rows": old["rows"] + ["x"]}, refuse)
    assert table.read_text() == '{"rows": [1]}'
    table.write_text("{half a tab")
    with pytest.raises(UserError, match=f"{table}: not a JSON file"):
        outputs.update_json(table, lambda old: old)


def test_learn_writes_its_two_tables_whole_and_waits_for_another_writer(tmp_path):
    from yolov5_shuffle.measure.learning import write_tables

    out = tmp_path / "learn"
    holder = _python(f"""
        import time
        from yolov5_shuffle.outputs import locked
        with locked({str(out / "learning.json")!r}):
            print("held", flush=True)
            time.sleep(3)
        """, tmp_path / "tmp", stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.time()
    write_tables(out, "| table |", {"setup": "s", "rows": []})
    assert time.time() - t0 > 1.5  # it waited for the other writer's pair
    assert holder.wait(timeout=60) == 0
    assert (out / "learning.md").read_text() == "| table |\n"
    assert json.loads((out / "learning.json").read_text()) == {"setup": "s", "rows": []}
    assert sorted(p.name for p in out.iterdir()) == [".learning.json.lock", "learning.json", "learning.md"]


def test_threads_of_one_process_adding_rows_to_one_table_lose_none(tmp_path):
    import threading

    table = tmp_path / "table.json"

    def add(name):
        for i in range(40):
            outputs.update_json(table, lambda old: {"rows": (old or {"rows": []})["rows"] + [f"{name}{i}"]})

    threads = [threading.Thread(target=add, args=(n,)) for n in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(json.loads(table.read_text())["rows"])) == 120


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_never_created(tmp_path):
    """A folder from someone else may hold .<name>.lock as a dangling link: opening it to lock would create the
    file it points to, anywhere."""
    outside = tmp_path / "outside" / "created"
    outside.parent.mkdir()
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / ".report.json.lock").symlink_to(outside)
    with pytest.raises(UserError, match=r"report.json: cannot lock it: .*\.report\.json\.lock is a link"):
        outputs.update_json(folder / "report.json", lambda old: {"a": 1})
    assert not outside.exists() and not (folder / "report.json").exists()
