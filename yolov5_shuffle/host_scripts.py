"""Run a host tree's own train.py / detect.py (``Host.scripts``) in the patched tree, checking our inputs first.

The hosts report bad input with tracebacks, minutes into a run (or stop at the first unreadable image);
these wrappers check the config, data yaml, labels, weights and sources before the script starts, and say
which file (and line, or layer) is wrong. Paths are the caller's: relative ones are resolved against the
caller's folder before train.py/detect.py run (in the tree's folder). A run that fails leaves no empty run
folder behind. With no tree given, the vendored one is made ready (vendored and patched) after the inputs
are checked: this module sits above both ``hosts`` and ``patching`` so that it may call both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .configs import config_files, resolve_config
from .data.files import VENDORED, check_data_yaml
from .data.sources import frame_shape, line_thickness, readable_sources
from .errors import UserError, user_path
from .hosts import find, host_for, host_for_checkpoint

DEMO_HYP = Path(__file__).resolve().parent / "hyps" / "hyp.demo.yaml"
SHORT_RUN = ["--optimizer", "AdamW", "--hyp", str(DEMO_HYP)]  # see hyps/hyp.demo.yaml for why


class ScriptError(UserError):
    """A host script refused to start (an input we checked) or failed (its output says why)."""


def ensure_tree(root: Path = VENDORED, vendor: bool = True) -> Path:
    """The vendored tree (made if missing or vendored with older fixes), patched, importable in this process.

    Nothing in the environment changes: the tree goes on this process's ``sys.path`` and on the script
    subprocesses' ``PYTHONPATH`` (only ``yolov5-shuffle vendor`` writes the venv's ``.pth``). With
    ``vendor=False`` a patched tree is taken as it is: a device machine has the tree carried to it and no
    network to fetch YOLOv5's wheel with, and scripts/demo.sh has just run the set-up (which reported it)."""
    from .marker import is_patched
    from .patching import patch
    from .patching.vendor import vendor as make_tree

    if vendor or not is_patched(root):
        make_tree(dest=root, pth=False)
        _, written, _ = patch.run(root)  # also upgrades the lines of an older yolov5-shuffle
        print(f"patched {root}" if written else f"{root}: patched")
    else:
        print(f"{root}: vendored and patched by the set-up")
    if str(Path(root).parent) not in sys.path:
        sys.path.insert(0, str(Path(root).parent))
    return root


def _run(root: Path, script: str, args: list[str], capture: bool = False) -> subprocess.CompletedProcess:
    # YOLOv5 7.0 calls torch.cuda.amp.* once per batch; torch's FutureWarning for it would bury the progress bar
    quiet = "ignore:`torch.cuda.amp:FutureWarning"
    path = os.pathsep.join(filter(None, (str(Path(root).resolve().parent), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path,  # `import yolov5` of a PyPI-layout tree
           "PYTHONWARNINGS": ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), quiet)))}
    cmd = [sys.executable, script, *map(str, args)]
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=capture, text=True)
    if r.returncode:
        tail = f"\n{(r.stderr or '')[-3000:]}" if capture else ""
        raise ScriptError(f"{script} exited with {r.returncode} (its output above says why){tail}")
    return r


def _listing(project: Path) -> set[Path]:
    return set(project.iterdir()) if project.is_dir() else set()


def _new_dir(project: Path, before: set) -> Path:
    made = sorted(_listing(project) - before, key=lambda p: p.stat().st_mtime)
    if not made:
        raise ScriptError(f"no new run folder appeared in {project}")
    return made[-1]


def _has_files(folder: Path) -> bool:
    return any(p.is_file() for p in folder.rglob("*"))


def _run_in(project: Path, root: Path, script: str, args: list, capture: bool) -> Path:
    """_run; return the run folder it made. On failure remove what it left empty: new run folders with no
    file in them, and the project folder when it made that too."""
    made_project = not project.exists()
    before = _listing(project)
    try:
        _run(root, script, args, capture)
    except BaseException:
        for p in _listing(project) - before:
            if p.is_dir() and not _has_files(p):
                shutil.rmtree(p, ignore_errors=True)
        if made_project and project.is_dir() and not any(project.iterdir()):
            project.rmdir()
        raise
    return _new_dir(project, before)


def _script(root: Path, job: str) -> str:
    """The tree's own script for ``job`` (``Host.scripts``: a host may validate with test.py, for instance)."""
    return find(root).host.scripts[job]


def check_checkpoint(weights: Path, script: str) -> None:
    """Refuse before the script starts: junk, a truncated file, a payload, another host's checkpoint (the script
    would print a traceback after its banner, or run the payload)."""
    host = host_for_checkpoint(weights)
    if script not in host.scripts:
        raise ScriptError(f"--weights {weights}: a checkpoint of {host.label}, which has no {script}.py here; "
                          f"{host.hint(script, weights)}")


def _check_project(project: Path, flag: str = "--project") -> Path:
    project = Path(project).resolve()
    with user_path(flag, project):
        existing = next((p for p in (project, *project.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ScriptError(f"{flag} {project}: {existing} is a file, not a folder")
    return project


def _check_train_weights(weights: str | Path | None, cfg: str | Path) -> list[str]:
    """--weights for train.py: '' (from scratch), a file (made absolute), or a name the host's train.py downloads
    (``Host.release_weights``)."""
    if weights is None or str(weights) == "":
        return ["--weights", ""]
    w = Path(weights)
    if w.is_file():
        check_checkpoint(w, "train")
        return ["--weights", str(w.resolve())]
    if w.exists():
        raise ScriptError(f"--weights {weights}: not a file")
    release = host_for(cfg).release_weights
    if len(w.parts) == 1 and release is not None and release.match(w.name):
        return ["--weights", w.name]  # train.py downloads the host's release checkpoints by name
    raise ScriptError(f"--weights {weights}: no such file ({w.resolve()})")


def _resolve_cfg(cfg: str | Path, root: Path) -> Path:
    """The config path train.py gets: a file that exists is used as given (absolute), a name is looked up in
    our configs and the tree's; a file named like an installed config is used, with a note saying so."""
    try:
        path = resolve_config(cfg, extra_dirs=(Path(root) / "models",))
    except FileNotFoundError as e:
        raise ScriptError(str(e)) from None
    with user_path("--cfg", cfg):
        _note_shadowed(cfg, path, root)
    return path


def _note_shadowed(cfg: str | Path, path: Path, root: Path) -> None:
    """Say so when the file given as --cfg is named like an installed config that differs from it."""
    if Path(cfg).is_file():
        installed = {c.name: c for c in sorted((Path(root) / "models").glob("*.yaml"))}
        installed.update({c.name: c for c in config_files()})
        other = installed.get(path.name)
        if other is not None and other.resolve() != path and other.read_bytes() != path.read_bytes():
            print(f"note: --cfg {cfg}: using the file {path} as given, not the installed config of the same name "
                  f"({other})", flush=True)


def train(root: Path | None, cfg: str, data: Path, epochs: int, imgsz: int, project: Path, batch: int = 16,
          extra: list[str] = (), capture: bool = False, weights: str | Path | None = None) -> Path:
    """train.py (from scratch unless ``weights`` or extra says otherwise); returns the new run folder.

    Every input is checked before the script starts; ``root=None`` makes the vendored tree ready only after
    that (so a wrong argument costs no set-up)."""
    if epochs < 1 or batch < 1:
        raise ScriptError(f"--epochs and --batch-size must be >= 1, got {epochs} and {batch}")
    tree = Path(root) if root is not None else VENDORED
    check_data_yaml(data, tree)
    weight_args = [] if "--weights" in extra else _check_train_weights(weights, cfg)
    project = _check_project(project)
    try:
        cfg_path = _resolve_cfg(cfg, tree)
    except ScriptError:
        if not (root is None and not (tree / "models").is_dir() and host_for(cfg).knows_config(cfg)):
            raise
        cfg_path = None  # one of the host's own configs, known once the tree is there
    if root is None:
        root = ensure_tree()
    if cfg_path is None:
        cfg_path = _resolve_cfg(cfg, root)
    from .cfg_check import check_model_yaml

    check_model_yaml(cfg_path, root)
    return _run_in(project, root, _script(root, "train"),
                   ["--cfg", cfg_path, "--data", Path(data).resolve(), *weight_args, "--epochs", epochs, "--imgsz",
                    imgsz, "--batch-size", batch, "--workers", 0, "--project", project, "--name", "exp", *extra],
                   capture)


def _link_folder(files: list[Path], folder: Path) -> Path:
    """A folder holding `files` under their own names (links where the OS allows, else copies)."""
    folder.mkdir()
    for f in files:
        try:
            (folder / f.name).symlink_to(f.resolve())
        except OSError:
            shutil.copy2(f, folder / f.name)
    return folder


def detect(root: Path | None, weights: Path, source: Path, imgsz: int, project: Path, name: str,
           capture: bool = False, extra: list[str] = ()) -> Path:
    """detect.py on an image, a folder (unreadable images and videos skipped with a warning) or a video.

    Every input is checked before the script starts; ``root=None`` makes the vendored tree ready after that."""
    source, weights = Path(source), Path(weights)
    if not weights.exists():
        raise ScriptError(f"weights {weights}: no such file ({weights.resolve()})")
    if not weights.is_file():
        raise ScriptError(f"weights {weights}: not a file")
    check_checkpoint(weights, "detect")
    listed = source.is_file() and source.suffix.lower() == ".txt"  # a .txt list goes to detect.py as it is
    files, skipped = ([], False) if listed else readable_sources(source)
    project = _check_project(project)
    shape = frame_shape(files[0]) if files else None
    with tempfile.TemporaryDirectory() as tmp:
        arg = source.resolve()
        if skipped:  # detect.py stops at the first unreadable file, and saves nothing for a .txt list:
            arg = _link_folder(files, Path(tmp) / "source")  # a folder of the readable ones
        style = [] if shape is None or "--line-thickness" in extra else ["--line-thickness", line_thickness(*shape)]
        if root is None:
            root = ensure_tree()
        return _run_in(project, root, _script(root, "detect"), ["--weights", weights.resolve(), "--source", arg, "--imgsz", imgsz,
                                                    "--project", project, "--name", name, *style, *extra], capture)


def train_from_scratch(cfg: str, data: Path, epochs: int, imgsz: int, project: Path, batch: int, seed: int = 0,
                       hyp: Path | None = None) -> Path:
    """Train ``cfg`` from scratch with its host's own trainer, AdamW and ``hyp``: the tree's train.py (the vendored
    tree, made ready after the inputs are checked), or, for a host without scripts, ``Host.train``; the new run
    folder."""
    host = host_for(cfg)
    if "train" not in host.scripts:
        return host.train(cfg, data, epochs, imgsz, project, batch, seed, hyp=hyp)
    recipe = ["--optimizer", "AdamW", "--hyp", str(hyp)] if hyp else []
    return train(None, cfg, data, epochs, imgsz, project, batch=batch, extra=["--seed", str(seed), *recipe])
