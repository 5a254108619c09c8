"""Shared fixtures: fresh YOLOv5 trees of each supported release and shape, built from PyPI wheels at test time."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from yolov5_shuffle.dataset import make_dataset
from yolov5_shuffle.patching import patch as patcher
from yolov5_shuffle import host_scripts as runs
from yolov5_shuffle.host_scripts import ensure_tree, train

REPO = Path(__file__).resolve().parent.parent
THIRD_PARTY = REPO.parent / "shared" / "third_party"  # host sources not on PyPI, laid beside the checkout


def fixture_archive(name: str) -> Path:
    """A host source archive from ../shared/third_party, or skip: users' machines do not have them."""
    path = THIRD_PARTY / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (a git archive of that host, provided beside the project's checkout only)")
    return path
RELEASES = ["6.0.7", "6.1.9", "6.2.3", "7.0.14"]
CLI = [sys.executable, "-m", "yolov5_shuffle"]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory):
    """PyPI wheels of every release we support, downloaded once per run (or taken from the user cache)."""
    from yolov5_shuffle.patching.vendor import fetch_wheel

    return {v: fetch_wheel(v) for v in RELEASES}


def to_upstream(root: Path) -> None:
    """Turn a PyPI-packaged tree into the upstream layout (``from models.common ...``), as in a git clone."""
    for py in root.rglob("*.py"):
        text = py.read_text()
        new = re.sub(r"^(\s*)from yolov5\.", r"\1from ", text, flags=re.M)
        new = re.sub(r"^(\s*)import yolov5\.", r"\1import ", new, flags=re.M)
        if new != text:
            py.write_text(new)


def to_master_shape(root: Path) -> None:
    """Rewrite a v7.0 upstream tree into current master's shapes: explicit parenthesised imports and the
    registration set written one name per line."""
    yolo = root / "models" / "yolo.py"
    text = yolo.read_text()
    names = re.findall(r"^class (\w+)", (root / "models" / "common.py").read_text(), flags=re.M)
    explicit = "from models.common import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"
    text = text.replace("from models.common import *\n", explicit)
    m = re.search(r"( +)if m in \{\n(.*?)\}:\n", text, flags=re.S)
    members = [x.strip() for x in m.group(2).replace("\n", " ").split(",") if x.strip()]
    indent = m.group(1)
    one_per_line = f"{indent}if m in {{\n" + "".join(f"{indent}    {x},\n" for x in members) + f"{indent}}}:\n"
    text = text[:m.start()] + one_per_line + text[m.end():]
    yolo.write_text(text.replace("'Fusing layers... '", '"Fusing layers... "'))


def make_tree(wheel: Path, dest: Path, layout: str, fixed: bool = False) -> Path:
    """A fresh YOLOv5 tree from ``wheel``: layout 'pypi' (dest/yolov5), 'upstream' or 'master' (dest);
    ``fixed``: with the vendor step's fixes for today's packages, so that its code runs here."""
    with zipfile.ZipFile(wheel) as z:
        for n in z.namelist():
            if n.startswith("yolov5/") and ".dist-info" not in n:
                z.extract(n, dest)
    root = dest / "yolov5"
    if layout in ("upstream", "master"):
        to_upstream(root)
    if layout == "master":
        to_master_shape(root)
    if fixed:
        from yolov5_shuffle.hosts import find
        from yolov5_shuffle.patching.fixes import apply_fixes

        apply_fixes(root, find(root).host.fixes)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file below root, for byte-identity checks."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def fake_checkpoint(path: Path) -> Path:
    """A file our checks take for a YOLOv5 training checkpoint (a torch zip whose pickle creates a
    yolov5.models.yolo.DetectionModel), for tests that record what would reach YOLOv5's scripts without running
    them; nothing can load it."""
    import zipfile

    pickle = b"\x80\x02cyolov5.models.yolo\nDetectionModel\nq\x00)\x81q\x01."
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{Path(path).stem}/data.pkl", pickle)
        z.writestr(f"{Path(path).stem}/version", "3\n")
    return Path(path)


def run_cli(*args, cwd=None, check=False, env=None):
    r = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, **(env or {})})
    if check and r.returncode:
        raise AssertionError(f"{args} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture
def tree_factory(wheels, tmp_path):
    def make(version: str = "7.0.14", layout: str = "pypi", name: str = "t", fixed: bool = False) -> Path:
        return make_tree(wheels[version], tmp_path / name, layout, fixed)

    return make


def python_in(root: Path, code: str, layout: str) -> subprocess.CompletedProcess:
    """Run code with the tree's own YOLOv5 importable, as train.py inside it would have it."""
    path = root.parent if layout == "pypi" else root
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(REPO)])}
    return subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=root, capture_output=True, text=True,
                          env=env, timeout=600)


# --- one small trained YOLOv5 run, shared by the workflow, export and deploy tests ---------------------

IMGSZ = 128


@pytest.fixture(scope="session")
def yolo_root():
    return ensure_tree()


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data") / "shapes", train=8, val=4, imgsz=IMGSZ, seed=1, video=True)


@pytest.fixture(scope="session")
def trained(yolo_root, data, tmp_path_factory):
    """One yolov5s-shufflenetv2 run shared by the val/detect/export tests (no plots: none is tested here, and
    they take half the time of a short run)."""
    return train(yolo_root, "yolov5s-shufflenetv2.yaml", data, 2, IMGSZ, tmp_path_factory.mktemp("runs"), batch=4,
                 extra=["--noplots"], capture=True)


# --- the error tests (test_errors_*.py): YOLOv5 replaced by a recorder, a fresh tree of each host ---------

@dataclass
class Recorder:
    """Stands in for YOLOv5: ensure_tree gives a patched fresh tree, _run records and makes a run folder."""

    make_tree: Callable[[], Path]
    root: Path | None = None
    runs: list = field(default_factory=list)
    ensured: int = 0

    def ensure(self, root=None):
        self.ensured += 1
        if self.root is None:
            self.root = self.make_tree()
            patcher.run(self.root)
        return self.root

    def run(self, root, script, args, capture=False):
        args = [str(a) for a in args]
        opt = {a: args[i + 1] if i + 1 < len(args) else None for i, a in enumerate(args) if a.startswith("--")}
        src = opt.get("--source")
        listing = sorted(os.listdir(src)) if src and os.path.isdir(src) else None
        self.runs.append({"script": script, "opt": opt, "source_listing": listing})
        run = Path(opt["--project"]) / opt["--name"]
        run.mkdir(parents=True, exist_ok=True)
        (run / "results.txt").write_text("recorded\n")
        return subprocess.CompletedProcess(args, 0, "", "")

    @property
    def reached(self) -> bool:
        return bool(self.runs)


@pytest.fixture
def yolov5(monkeypatch, tree_factory):
    rec = Recorder(lambda: tree_factory("7.0.14", "pypi", name="host"))
    monkeypatch.setattr(runs, "ensure_tree", rec.ensure)
    monkeypatch.setattr(runs, "_run", rec.run)
    return rec


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty working folder that is the current directory (relative paths are the caller's)."""
    w = tmp_path / "work"
    w.mkdir()
    monkeypatch.chdir(w)
    return w


def _extract(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as t:
        t.extractall(into, filter="data")
    return next(p for p in into.iterdir() if p.is_dir())


@pytest.fixture(params=["yolov5-pypi", "yolov5-git", "yolov5-master", "yolov7"])
def host_tree(request, tree_factory, tmp_path):
    """A fresh, unpatched tree of each host."""
    kind = request.param
    if kind == "yolov5-pypi":
        return kind, tree_factory("7.0.14", "pypi")
    if kind == "yolov5-git":
        return kind, tree_factory("7.0.14", "upstream")
    archive = {"yolov5-master": "yolov5-master-5081342.tar.gz", "yolov7": "yolov7-a207844.tar.gz"}[kind]
    return kind, _extract(fixture_archive(archive), tmp_path / "src")
